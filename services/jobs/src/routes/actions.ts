import type { Express } from 'express';
import type { Authenticator, Principal } from '@nself/auth';
import { AppError, toAppError } from '@nself/errors';
import { z } from 'zod';
import type { ApiDeps } from '../use-cases/deps.js';
import { addJob } from '../use-cases/add-job.js';

const actionBody = z.object({
  action: z.object({ name: z.string() }),
  input: z.record(z.string(), z.unknown()).default({}),
  session_variables: z.record(z.string(), z.string()).default({}),
});

/**
 * Hasura Action `addJob(type, payload, queue, priority, delay, attempts, jobId)`. Hasura calls it with
 * the admin secret (configured as a forwarded header) and the caller's session variables; the job is
 * created for that user and app. Errors use Hasura's action error shape ({message, extensions.code}).
 */
export function actionRoutes(app: Express, deps: ApiDeps, authenticator: Authenticator): void {
  app.post('/v1/actions/addJob', async (req, res) => {
    try {
      const caller = await authenticator.authenticate(req.headers);
      if (!caller?.isAdmin) throw new AppError('UNAUTHORIZED', 401, 'Hasura must call actions with the admin secret');
      const body = actionBody.safeParse(req.body);
      if (!body.success) throw new AppError('INVALID_ACTION', 400, 'Not a Hasura action payload');
      const session = body.data.session_variables;
      const role = session['x-hasura-role'] ?? 'user';
      const account = session['x-hasura-source-account-id'] ?? caller.sourceAccountId;
      const principal: Principal = {
        userId: session['x-hasura-user-id'] ?? null,
        roles: [role],
        isAdmin: role === 'admin',
        sourceAccountId: /^[A-Za-z0-9_-]{1,64}$/.test(account) ? account : caller.sourceAccountId,
        via: 'jwt',
      };
      const requestId = typeof req.headers['x-request-id'] === 'string' ? req.headers['x-request-id'] : undefined;
      const { job, created } = await addJob(deps, principal, body.data.input, requestId);
      res.json({ id: job.id, status: job.status, queue: job.queue, type: job.type, deduplicated: !created });
    } catch (error) {
      const appError = toAppError(error);
      if (!appError || appError.status >= 500) {
        deps.logger.error({ err: error }, 'action failed');
        res.status(500).json({ message: 'internal error', extensions: { code: 'INTERNAL_ERROR' } });
        return;
      }
      res.status(appError.status).json({ message: appError.message, extensions: { code: appError.code, errors: appError.extra.errors } });
    }
  });
}
