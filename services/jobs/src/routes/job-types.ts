import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import type { ApiDeps } from '../use-cases/deps.js';
import { deleteJobType, getJobType, listJobTypes, registerJobType, updateJobType } from '../use-cases/job-types.js';

export function jobTypeRoutes(app: Express, deps: ApiDeps, auth: RequestHandler): void {
  app.get('/v1/job-types', auth, async (req, res) => {
    res.json({ items: await listJobTypes(deps, getPrincipal(req)) });
  });
  app.post('/v1/job-types', auth, async (req, res) => {
    res.status(201).json(await registerJobType(deps, getPrincipal(req), req.body));
  });
  app.get('/v1/job-types/:name', auth, async (req, res) => {
    res.json(await getJobType(deps, getPrincipal(req), String(req.params.name)));
  });
  app.patch('/v1/job-types/:name', auth, async (req, res) => {
    res.json(await updateJobType(deps, getPrincipal(req), String(req.params.name), req.body));
  });
  app.delete('/v1/job-types/:name', auth, async (req, res) => {
    await deleteJobType(deps, getPrincipal(req), String(req.params.name));
    res.status(204).end();
  });
}
