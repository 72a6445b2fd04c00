import type { Authenticator } from '@nself/auth';
import { errorMiddleware } from '@nself/errors';
import type { Health } from '@nself/health';
import { accessLog, createServiceApp, requestId } from '@nself/http';
import type { Metrics } from '@nself/metrics';
import express, { type Express } from 'express';
import type { IdmeDeps } from './deps.js';
import { authRoutes } from './routes/auth.js';
import { verificationRoutes } from './routes/verifications.js';
import { webhookRoutes } from './routes/webhooks.js';

export interface IdmeAppOptions {
  deps: IdmeDeps;
  authenticator: Authenticator;
  health: Health;
  metrics: Metrics;
}

/**
 * The idme HTTP app (never listens). The shared service app carries request ids, access log, metrics,
 * /health, /ready, /metrics, the JSON routes and problem+json errors; the webhook route sits in front
 * of it because its signature covers the raw body, which the JSON parser would consume.
 */
export function createIdmeApp({ deps, authenticator, health, metrics }: IdmeAppOptions): Express {
  const service = createServiceApp({
    logger: deps.logger,
    health,
    metrics,
    jsonLimit: '64kb',
    routes: (app) => {
      authRoutes(app, deps, authenticator);
      verificationRoutes(app, deps, authenticator);
    },
  });
  const outer = express();
  outer.disable('x-powered-by');
  outer.set('trust proxy', 'loopback, uniquelocal');
  webhookRoutes(outer, deps, [requestId(), accessLog(deps.logger, metrics)]);
  outer.use(service);
  outer.use(errorMiddleware(deps.logger));
  return outer;
}
