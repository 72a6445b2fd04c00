import type { Express } from 'express';
import { authenticate, type Authenticator } from '@nself/auth';
import type { Health } from '@nself/health';
import { createServiceApp } from '@nself/http';
import type { Metrics } from '@nself/metrics';
import { createLinkSigner } from './adapters/signed-links.js';
import { LocalStorage } from './adapters/storage.js';
import { downloadRoutes } from './routes/downloads.js';
import { fileRoutes } from './routes/files.js';
import { jobRoutes } from './routes/jobs.js';
import { storageEventRoutes } from './routes/storage-events.js';
import type { ServiceDeps } from './use-cases/deps.js';

export interface AppDeps extends ServiceDeps {
  authenticator: Authenticator;
  health: Health;
  httpMetrics: Metrics;
}

/** The file-processing HTTP API (never listens; main.ts and the tests do). */
export function createFileApp(deps: AppDeps): Express {
  const auth = authenticate(deps.authenticator);
  return createServiceApp({
    logger: deps.logger,
    health: deps.health,
    metrics: deps.httpMetrics,
    corsOrigins: deps.config.env.FILE_CORS_ORIGINS,
    routes: (app) => {
      if (deps.storage instanceof LocalStorage) {
        downloadRoutes(app, deps.storage, createLinkSigner(deps.config.links.signingSecret));
      }
      storageEventRoutes(app, deps);
      fileRoutes(app, deps, auth);
      jobRoutes(app, deps, auth);
    },
  });
}
