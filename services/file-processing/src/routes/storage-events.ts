import { createHash, timingSafeEqual } from 'node:crypto';
import type { Express, RequestHandler } from 'express';
import { Errors } from '@nself/errors';
import { z } from 'zod';
import { handleStorageEvents } from '../use-cases/storage-events.js';
import type { ServiceDeps } from '../use-cases/deps.js';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Shared-secret check for bucket notifications: MinIO's webhook target sends its auth_token as the
 * Authorization header (either "Bearer <secret>" or the bare secret); other senders may use
 * x-storage-event-token. Compared in constant time.
 */
export function storageEventAuth(secret: string | undefined): RequestHandler {
  const expected = secret ? digest(secret) : undefined;
  return (req, _res, next) => {
    if (!expected) throw Errors.notFound('Route POST /v1/storage-events', 'ROUTE_NOT_FOUND');
    const header = req.headers['x-storage-event-token'] ?? req.headers.authorization;
    const given = typeof header === 'string' ? header.replace(/^Bearer\s+/i, '').trim() : '';
    if (!given || !timingSafeEqual(digest(given), expected)) {
      throw Errors.unauthorized('Invalid storage event token', 'INVALID_EVENT_TOKEN');
    }
    next();
  };
}

const query = z.object({ sourceAccountId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).optional() });

export function storageEventRoutes(app: Express, deps: ServiceDeps): void {
  app.post('/v1/storage-events', storageEventAuth(deps.config.storageEvents.secret), async (req, res) => {
    const { sourceAccountId } = query.parse(req.query);
    const requestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : null;
    const result = await handleStorageEvents(deps, req.body, {
      sourceAccountId: sourceAccountId ?? deps.config.storageEvents.account,
      requestId,
    });
    res.status(202).json(result);
  });
}
