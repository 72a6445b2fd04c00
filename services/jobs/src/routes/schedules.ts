import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import type { ApiDeps } from '../use-cases/deps.js';
import { createSchedule, deleteSchedule, getSchedule, listSchedules, updateSchedule } from '../use-cases/schedules.js';

export function scheduleRoutes(app: Express, deps: ApiDeps, auth: RequestHandler): void {
  app.get('/v1/schedules', auth, async (req, res) => {
    res.json({ items: await listSchedules(deps, getPrincipal(req)) });
  });
  app.post('/v1/schedules', auth, async (req, res) => {
    res.status(201).json(await createSchedule(deps, getPrincipal(req), req.body));
  });
  app.get('/v1/schedules/:scheduleId', auth, async (req, res) => {
    res.json(await getSchedule(deps, getPrincipal(req), String(req.params.scheduleId)));
  });
  app.patch('/v1/schedules/:scheduleId', auth, async (req, res) => {
    res.json(await updateSchedule(deps, getPrincipal(req), String(req.params.scheduleId), req.body));
  });
  app.delete('/v1/schedules/:scheduleId', auth, async (req, res) => {
    await deleteSchedule(deps, getPrincipal(req), String(req.params.scheduleId));
    res.status(204).end();
  });
}
