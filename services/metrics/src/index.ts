import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export { Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  /** Records method, route and status of each HTTP request with its duration. */
  observeRequest(
    req: IncomingMessage & { route?: { path?: string } },
    res: ServerResponse,
    startedAt: bigint,
    routeLabel?: string,
  ): void;
  /** Prometheus text exposition. */
  render(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by method, route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    observeRequest(req, res, startedAt, routeLabel) {
      // The matched route pattern keeps label cardinality bounded (never the raw path with ids).
      const route = routeLabel ?? req.route?.path ?? (res.statusCode === 404 ? 'unmatched' : 'other');
      duration.observe(
        { method: req.method ?? 'GET', route: String(route), status: String(res.statusCode) },
        Number(process.hrtime.bigint() - startedAt) / 1e9,
      );
    },
    async render() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}
