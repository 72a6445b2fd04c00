import type { Principal } from '@nself/auth';
import { AppError, Errors, toAppError } from '@nself/errors';
import type { Logger } from '@nself/logging';
import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { sendBulk, sendNotification, type SendResult } from '../use-cases/send.js';
import type { ApiDeps } from './deps.js';

interface ActionPayload {
  action?: { name?: string };
  input?: Record<string, unknown>;
  session_variables?: Record<string, string>;
}

const ACCOUNT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Who the action runs as. Hasura calls the handler with the admin secret (a header configured in
 * actions.yaml) and passes the end user in session_variables, which Hasura has verified: an admin
 * role acts for anyone, any other role only for its own x-hasura-user-id. When Hasura forwards the
 * client's own JWT instead (forward_client_headers), that token is the principal.
 */
export function actionPrincipal(principal: Principal, payload: ActionPayload, adminRoles: string[]): Principal {
  if (principal.via !== 'admin-secret') return principal;
  const session = payload.session_variables ?? {};
  const lower = Object.fromEntries(Object.entries(session).map(([k, v]) => [k.toLowerCase(), v]));
  const role = lower['x-hasura-role'];
  const account = lower['x-hasura-source-account-id'] ?? principal.sourceAccountId;
  if (!ACCOUNT_PATTERN.test(account)) throw Errors.badRequest('INVALID_SOURCE_ACCOUNT', 'x-hasura-source-account-id is invalid');
  if (!role || adminRoles.includes(role) || role === 'admin') {
    return { ...principal, sourceAccountId: account, userId: lower['x-hasura-user-id'] ?? principal.userId };
  }
  return {
    userId: lower['x-hasura-user-id'] ?? null,
    roles: [role],
    isAdmin: false,
    sourceAccountId: account,
    via: principal.via,
  };
}

/** Hasura wants a 4xx with {message, extensions} for an action error. */
function sendActionError(res: Response, logger: Logger, error: unknown): void {
  const appError = toAppError(error);
  if (appError && appError.status < 500) {
    res.status(appError.status >= 400 ? appError.status : 400).json({
      message: appError.message,
      extensions: { code: appError.code, ...(appError.extra.errors ? { errors: appError.extra.errors } : {}) },
    });
    return;
  }
  const errorId = randomUUID();
  logger.error({ err: error, errorId }, 'action failed');
  const exposed = appError ?? new AppError('INTERNAL_ERROR', 500, 'An unexpected error occurred');
  res.status(exposed.status).json({ message: exposed.message, extensions: { code: exposed.code, errorId } });
}

function withoutNulls(input: Record<string, unknown> | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(input ?? {}).filter(([, v]) => v !== null && v !== undefined));
}

function ids(result: SendResult): string[] {
  return ((result.body.notifications as { id: string }[] | undefined) ?? []).map((n) => n.id);
}

/** Hasura Actions: sendNotification(userId, template, data) and sendBulkNotifications(userIds, template, data). */
export function actionRoutes(deps: ApiDeps): Router {
  const router = Router();
  const sendDeps = { ...deps, metrics: deps.apiMetrics };
  const adminRoles = deps.config.env.JWT_ADMIN_ROLES.split(',').map((r) => r.trim()).filter(Boolean);

  const handle =
    (name: string, run: (principal: Principal, input: Record<string, unknown>) => Promise<Record<string, unknown>>) =>
    async (req: Request, res: Response) => {
      try {
        const payload = (req.body ?? {}) as ActionPayload;
        if (payload.action?.name && payload.action.name !== name) {
          throw Errors.badRequest('WRONG_ACTION', `This handler serves ${name}, not ${payload.action.name}`);
        }
        // Authenticated here rather than by middleware, so even a 401 reaches Hasura in its format.
        const caller = await deps.authenticator.authenticate(req.headers);
        if (!caller) throw Errors.unauthorized();
        const principal = actionPrincipal(caller, payload, adminRoles);
        res.json(await run(principal, withoutNulls(payload.input)));
      } catch (error) {
        sendActionError(res, deps.logger, error);
      }
    };

  router.post(
    '/v1/actions/sendNotification',
    handle('sendNotification', async (principal, input) => {
      const result = await sendNotification(sendDeps, principal, input);
      return { id: result.body.id, status: result.body.status, notificationIds: ids(result), replayed: result.replayed };
    }),
  );

  router.post(
    '/v1/actions/sendBulkNotifications',
    handle('sendBulkNotifications', async (principal, input) => {
      const result = await sendBulk(sendDeps, principal, input);
      const b = result.body;
      return {
        requested: b.requested,
        created: b.created,
        queued: b.queued,
        deferred: b.deferred,
        batched: b.batched,
        skipped: b.skipped,
        notificationIds: ids(result),
        replayed: result.replayed,
      };
    }),
  );
  return router;
}
