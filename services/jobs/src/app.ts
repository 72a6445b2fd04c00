import type { Express } from 'express';
import { authenticate, type Authenticator } from '@nself/auth';
import type { Health } from '@nself/health';
import { createServiceApp } from '@nself/http';
import type { Metrics } from '@nself/metrics';
import { actionRoutes } from './routes/actions.js';
import { dashboardAuth, dashboardRoutes } from './routes/dashboard.js';
import { jobTypeRoutes } from './routes/job-types.js';
import { jobRoutes } from './routes/jobs.js';
import { scheduleRoutes } from './routes/schedules.js';
import { statsRoutes } from './routes/stats.js';
import type { ApiDeps } from './use-cases/deps.js';

export interface AppDeps extends ApiDeps {
  authenticator: Authenticator;
  health: Health;
  metrics: Metrics;
}

/** The jobs HTTP API (and BullBoard) built from its dependencies; it never listens. */
export function createJobsApp(deps: AppDeps): Express {
  const auth = authenticate(deps.authenticator);
  return createServiceApp({
    logger: deps.logger,
    health: deps.health,
    metrics: deps.metrics,
    jsonLimit: `${Math.ceil((deps.config.maxPayloadBytes * 2) / 1024)}kb`,
    routes(app) {
      if (deps.config.dashboard.enabled) {
        dashboardRoutes(app, deps.queues.all(), dashboardAuth(deps.authenticator, deps.config), deps.config);
      }
      jobRoutes(app, deps, auth);
      scheduleRoutes(app, deps, auth);
      jobTypeRoutes(app, deps, auth);
      statsRoutes(app, deps, auth);
      actionRoutes(app, deps, deps.authenticator);
    },
  });
}
