import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import type { ApiDeps } from '../use-cases/deps.js';
import { addJob } from '../use-cases/add-job.js';
import { cancelJob } from '../use-cases/cancel-job.js';
import { getJob, listJobs } from '../use-cases/query-jobs.js';
import { retryJob } from '../use-cases/retry-job.js';

const requestIdOf = (headers: Record<string, unknown>) =>
  typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : undefined;

export function jobRoutes(app: Express, deps: ApiDeps, auth: RequestHandler): void {
  app.post('/v1/jobs', auth, async (req, res) => {
    const { job, created } = await addJob(deps, getPrincipal(req), req.body, requestIdOf(req.headers));
    res.status(created ? 201 : 200).json(created ? job : { ...job, deduplicated: true });
  });

  app.get('/v1/jobs', auth, async (req, res) => {
    res.json(await listJobs(deps, getPrincipal(req), req.query));
  });

  app.get('/v1/jobs/:jobId', auth, async (req, res) => {
    res.json(await getJob(deps, getPrincipal(req), String(req.params.jobId)));
  });

  app.post('/v1/jobs/:jobId/retry', auth, async (req, res) => {
    const { job, retryOf } = await retryJob(deps, getPrincipal(req), String(req.params.jobId), requestIdOf(req.headers));
    res.status(retryOf ? 201 : 200).json(retryOf ? { ...job, retryOf } : job);
  });

  app.delete('/v1/jobs/:jobId', auth, async (req, res) => {
    const { job, done } = await cancelJob(deps, getPrincipal(req), String(req.params.jobId));
    res.status(done ? 200 : 202).json(done ? job : { ...job, cancelling: true });
  });
}
