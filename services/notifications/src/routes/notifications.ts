import { assertSelfOrAdmin, getPrincipal } from '@nself/auth';
import { Router, type Response } from 'express';
import { getNotification, listUserNotifications } from '../use-cases/notifications.js';
import { getPreferences, putPreferences } from '../use-cases/preferences.js';
import { sendBulk, sendNotification, type SendResult } from '../use-cases/send.js';
import type { ApiDeps } from './deps.js';

export function reply(res: Response, result: SendResult): void {
  res.status(result.status).set('Idempotent-Replayed', String(result.replayed)).json(result.body);
}

export function notificationRoutes(deps: ApiDeps): Router {
  const router = Router();
  const sendDeps = { ...deps, metrics: deps.apiMetrics };

  router.post('/v1/notifications', async (req, res) => {
    reply(res, await sendNotification(sendDeps, getPrincipal(req), req.body, req.get('idempotency-key')));
  });

  router.post('/v1/notifications/bulk', async (req, res) => {
    reply(res, await sendBulk(sendDeps, getPrincipal(req), req.body, req.get('idempotency-key')));
  });

  router.get('/v1/notifications/:id', async (req, res) => {
    res.json(await getNotification(deps.prisma, getPrincipal(req), req.params.id));
  });

  router.get('/v1/users/:userId/notifications', async (req, res) => {
    res.json(await listUserNotifications(deps.prisma, getPrincipal(req), req.params.userId, req.query));
  });

  router.get('/v1/users/:userId/preferences', async (req, res) => {
    const principal = getPrincipal(req);
    assertSelfOrAdmin(principal, req.params.userId);
    res.json({ userId: req.params.userId, preferences: await getPreferences(deps.prisma, principal.sourceAccountId, req.params.userId) });
  });

  router.put('/v1/users/:userId/preferences', async (req, res) => {
    const principal = getPrincipal(req);
    assertSelfOrAdmin(principal, req.params.userId);
    const preferences = await putPreferences(deps.prisma, principal.sourceAccountId, req.params.userId, req.body);
    res.json({ userId: req.params.userId, preferences });
  });

  return router;
}
