import type { Express, RequestHandler } from 'express';
import { getPrincipal, requireAdmin } from '@nself/auth';
import { getJob, getStats } from '../use-cases/files.js';
import type { ServiceDeps } from '../use-cases/deps.js';

export function jobRoutes(app: Express, deps: ServiceDeps, auth: RequestHandler): void {
  app.get('/v1/jobs/:jobId', auth, async (req, res) => {
    res.json(await getJob(deps, getPrincipal(req), req.params.jobId as string));
  });

  app.get('/v1/stats', auth, requireAdmin(), async (req, res) => {
    res.json(await getStats(deps, getPrincipal(req).sourceAccountId));
  });
}
