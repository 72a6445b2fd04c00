// The service behind the proxies: a JSON route on the shared service kit, as every service has.
import { createHealth } from '@nself/health';
import { createServiceApp, listen } from '@nself/http';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';

const logger = createLogger({ service: 'bench-upstream', level: 'warn' });
const app = createServiceApp({
  logger,
  health: createHealth({}),
  metrics: createMetrics('bench-upstream'),
  routes(app) {
    app.get('/v1/ping', (_req, res) => {
      res.json({ ok: true, at: Date.now() });
    });
  },
});
const server = await listen(app, Number(process.env.PORT ?? 0), '127.0.0.1');
server.keepAliveTimeout = 65_000;
const address = server.address();
process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
