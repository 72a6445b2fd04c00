import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import { param } from './params.js';
import type { MessagesService } from '../use-cases/messages.js';
import type { RoomsService } from '../use-cases/rooms.js';

/** Rooms, members and the broadcast endpoint for other services. */
export function roomRoutes(app: Express, auth: RequestHandler, rooms: RoomsService, messages: MessagesService): void {
  app.get('/v1/rooms', auth, async (req, res) => {
    res.json(await rooms.list(getPrincipal(req), req.query));
  });

  app.post('/v1/rooms', auth, async (req, res) => {
    res.status(201).json(await rooms.create(getPrincipal(req), req.body));
  });

  app.get('/v1/rooms/:roomId', auth, async (req, res) => {
    res.json(await rooms.get(getPrincipal(req), param(req.params.roomId)));
  });

  app.delete('/v1/rooms/:roomId', auth, async (req, res) => {
    await rooms.delete(getPrincipal(req), param(req.params.roomId));
    res.status(204).end();
  });

  app.get('/v1/rooms/:roomId/members', auth, async (req, res) => {
    res.json(await rooms.members(getPrincipal(req), param(req.params.roomId), req.query));
  });

  app.post('/v1/rooms/:roomId/members', auth, async (req, res) => {
    const result = await rooms.addMember(getPrincipal(req), param(req.params.roomId), req.body);
    res.status(result.created ? 201 : 200).json(result.member);
  });

  app.patch('/v1/rooms/:roomId/members/:userId', auth, async (req, res) => {
    res.json(await rooms.updateMember(getPrincipal(req), param(req.params.roomId), param(req.params.userId), req.body));
  });

  app.delete('/v1/rooms/:roomId/members/:userId', auth, async (req, res) => {
    await rooms.removeMember(getPrincipal(req), param(req.params.roomId), param(req.params.userId));
    res.status(204).end();
  });

  app.post('/v1/rooms/:roomId/broadcast', auth, async (req, res) => {
    res.status(202).json(await messages.broadcast(getPrincipal(req), param(req.params.roomId), req.body));
  });
}
