import type { Express, RequestHandler } from 'express';
import { getPrincipal } from '@nself/auth';
import { param } from './params.js';
import { Errors } from '@nself/errors';
import type { PresenceService } from '../use-cases/presence.js';

export function presenceRoutes(app: Express, auth: RequestHandler, presence: PresenceService): void {
  /** Presence of a user of the caller's app (any authenticated caller of that app). */
  app.get('/v1/presence/:userId', auth, async (req, res) => {
    const principal = getPrincipal(req);
    if (principal.via === 'anonymous') throw Errors.unauthorized();
    const [result] = await presence.get(principal.sourceAccountId, [param(req.params.userId)]);
    res.json(result);
  });
}
