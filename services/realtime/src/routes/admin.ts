import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import { param } from './params.js';
import type { ConnectionsService } from '../use-cases/connections.js';

/** Admin: connections (from the active_connections view), the event log, force disconnect. */
export function adminRoutes(app: Express, auth: RequestHandler, connections: ConnectionsService): void {
  app.get('/v1/connections', auth, async (req, res) => {
    res.json(await connections.list(getPrincipal(req), req.query));
  });

  app.delete('/v1/connections/:socketId', auth, async (req, res) => {
    await connections.disconnect(getPrincipal(req), param(req.params.socketId));
    res.status(204).end();
  });

  app.get('/v1/events', auth, async (req, res) => {
    res.json(await connections.events(getPrincipal(req), req.query));
  });
}
