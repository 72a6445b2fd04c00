import { authenticate } from '@nself/auth';
import type { Health } from '@nself/health';
import { createServiceApp } from '@nself/http';
import type { Metrics } from '@nself/metrics';
import express, { type Express } from 'express';
import { actionRoutes } from './routes/actions.js';
import { adminRoutes } from './routes/admin.js';
import type { ApiDeps } from './routes/deps.js';
import { notificationRoutes } from './routes/notifications.js';
import { templateRoutes } from './routes/templates.js';
import { webhookApp } from './routes/webhooks.js';

export type { ApiDeps } from './routes/deps.js';

/**
 * The notifications HTTP API (never listens). Provider webhooks come first because their signatures
 * cover the raw body; everything else is the shared service app (request id, access log, /health,
 * /ready, /metrics, JSON body limit, problem+json errors).
 */
export function createApp(deps: ApiDeps & { health: Health; metrics: Metrics }): Express {
  const requireAuth = authenticate(deps.authenticator);
  const service = createServiceApp({
    logger: deps.logger,
    health: deps.health,
    metrics: deps.metrics,
    corsOrigins: deps.config.env.NOTIFICATIONS_CORS_ORIGIN,
    jsonLimit: deps.config.env.NOTIFICATIONS_MAX_BODY,
    routes: (app) => {
      // Hasura Actions authenticate inside their handlers (errors in Hasura's format).
      app.use(actionRoutes(deps));
      app.use(['/v1/notifications', '/v1/users', '/v1/templates', '/v1/stats', '/v1/providers'], requireAuth);
      app.use(notificationRoutes(deps));
      app.use(templateRoutes(deps));
      app.use(adminRoutes(deps));
    },
  });
  const app = express();
  app.disable('x-powered-by');
  app.use('/v1/webhooks', webhookApp(deps, deps.metrics));
  app.use(service);
  return app;
}
