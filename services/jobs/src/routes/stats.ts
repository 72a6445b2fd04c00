import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import type { ApiDeps } from '../use-cases/deps.js';
import { getStats } from '../use-cases/stats.js';

export function statsRoutes(app: Express, deps: ApiDeps, auth: RequestHandler): void {
  app.get('/v1/stats', auth, async (req, res) => {
    res.json(await getStats(deps, getPrincipal(req)));
  });
}
