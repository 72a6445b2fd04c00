import { randomUUID } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import cors from 'cors';
import express, { type Express, type RequestHandler } from 'express';
import { errorMiddleware, notFoundMiddleware } from '@nself/errors';
import type { Health } from '@nself/health';
import { runWithRequestId, type Logger } from '@nself/logging';
import type { Metrics } from '@nself/metrics';

const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

/** Takes a well-formed x-request-id or makes one, echoes it, and runs the request inside its context. */
export function requestId(): RequestHandler {
  return (req, res, next) => {
    const incoming = req.headers['x-request-id'];
    const id = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    req.headers['x-request-id'] = id;
    res.setHeader('x-request-id', id);
    runWithRequestId(id, next);
  };
}

/**
 * One line per request on completion: method, path (no query string, which may hold tokens), status, ms.
 * A handler that is not an Express route (a proxy) names its metrics route in res.locals.routeLabel.
 */
export function accessLog(logger: Logger, metrics?: Metrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      metrics?.observeRequest(req, res, started, res.locals.routeLabel as string | undefined);
      const path = req.originalUrl.split('?')[0] ?? '';
      if (QUIET_PATHS.has(path)) return;
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      logger.info({ method: req.method, path, status: res.statusCode, ms: Math.round(ms * 10) / 10 }, 'request');
    });
    next();
  };
}

export interface ServiceAppOptions {
  logger: Logger;
  health: Health;
  metrics: Metrics;
  /** Allowed CORS origins; "*" for any; empty disables CORS headers. */
  corsOrigins?: string[];
  /** JSON body limit, e.g. "1mb". */
  jsonLimit?: string;
  /** Mounts the service's routes between the common middleware and the 404/error handlers. */
  routes: (app: Express) => void;
}

/**
 * The Express app every service shares: request id, access log and metrics, /health, /ready, /metrics,
 * the service's routes, then problem+json 404 and error handling. It never listens.
 */
export function createServiceApp(options: ServiceAppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback, uniquelocal');
  app.use(requestId());
  app.use(accessLog(options.logger, options.metrics));
  if (options.corsOrigins?.length) {
    const origins = options.corsOrigins;
    app.use(cors({ origin: origins.includes('*') ? true : origins, credentials: !origins.includes('*') }));
  }
  app.get('/health', (_req, res) => {
    res.json(options.health.liveness());
  });
  app.get('/ready', async (_req, res) => {
    const readiness = await options.health.readiness();
    res.status(readiness.status === 'ok' ? 200 : 503).json(readiness);
  });
  app.get('/metrics', async (_req, res) => {
    const { contentType, body } = await options.metrics.render();
    res.type(contentType).send(body);
  });
  app.use(express.json({ limit: options.jsonLimit ?? '1mb' }));
  options.routes(app);
  app.use(notFoundMiddleware());
  app.use(errorMiddleware(options.logger));
  return app;
}

/** Idle keep-alive connections stay open this long: longer than the gateway keeps idle upstream sockets. */
export const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/**
 * Listens and resolves with the server (port 0 picks a free one). Idle connections are kept longer than
 * the gateway's pool keeps them, so the gateway never reuses a socket this server is closing (a 502).
 */
export function listen(app: Express | RequestListener, port: number, host = '0.0.0.0'): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(app as RequestListener).listen(port, host, () => resolve(server));
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
    server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
    server.once('error', reject);
  });
}

/** Stops accepting, lets in-flight requests finish (bounded by graceMs), then drops what is left. */
export function closeServer(server: Server, graceMs = 5000): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
