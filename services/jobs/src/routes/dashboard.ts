import { createHash, timingSafeEqual } from 'node:crypto';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { Express, RequestHandler } from 'express';
import type { Authenticator } from '@nself/auth';
import { AppError, Errors, sendProblem, toAppError } from '@nself/errors';
import type { JobsQueue } from '../adapters/queues.js';
import type { JobsConfig } from '../config.js';

const digest = (value: string) => createHash('sha256').update(value).digest();
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/**
 * Who may open BullBoard. It shows every app's queues, so only operator credentials pass: HTTP basic auth
 * from JOBS_DASHBOARD_USER / JOBS_DASHBOARD_PASSWORD, the admin secret (x-admin-secret), or an admin JWT of
 * an operator account (JOBS_OPERATOR_ACCOUNTS). Without credentials: 401 (with a Basic challenge when
 * basic auth is configured, so browsers prompt). It is never open.
 */
export function dashboardAuth(authenticator: Authenticator, config: JobsConfig): RequestHandler {
  const basic = config.dashboard.basicAuth;
  const realm = 'Basic realm="nself jobs dashboard", charset="UTF-8"';
  const refuse = (res: Parameters<RequestHandler>[1], path: string, error: AppError) => {
    const challenge = basic ? new AppError(error.code, error.status, error.message, { headers: { 'WWW-Authenticate': realm } }) : error;
    sendProblem(res, challenge, path);
  };
  return async (req, res, next) => {
    const path = req.originalUrl.split('?')[0];
    const header = req.headers.authorization;
    if (header && /^Basic\s+/i.test(header)) {
      const decoded = Buffer.from(header.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const user = colon >= 0 ? decoded.slice(0, colon) : '';
      const password = colon >= 0 ? decoded.slice(colon + 1) : '';
      // Both comparisons always run (no early exit that would time the user name).
      const userOk = basic ? same(user, basic.user) : false;
      const passwordOk = basic ? same(password, basic.password) : false;
      if (basic && userOk && passwordOk) {
        next();
        return;
      }
      refuse(res, path ?? '', Errors.unauthorized('Invalid dashboard credentials', 'INVALID_CREDENTIALS'));
      return;
    }
    try {
      const principal = await authenticator.authenticate(req.headers);
      if (!principal) {
        refuse(res, path ?? '', Errors.unauthorized('The dashboard requires operator credentials'));
        return;
      }
      const operator =
        principal.isAdmin &&
        (principal.via === 'admin-secret' || config.dashboard.operatorAccounts.includes(principal.sourceAccountId));
      if (!operator) {
        sendProblem(res, Errors.forbidden('The dashboard is for operators only', 'ADMIN_REQUIRED'), path);
        return;
      }
      next();
    } catch (error) {
      const appError = toAppError(error) ?? Errors.unauthorized();
      refuse(res, path ?? '', appError);
    }
  };
}

/**
 * BullBoard for every configured queue. The UI builds its asset and API URLs from the base path the
 * browser sees (JOBS_DASHBOARD_BASE_PATH, /jobs/dashboard behind the gateway, which strips /jobs), so the
 * router is mounted both at /dashboard (what the gateway forwards to) and at the base path itself (direct
 * access to the service: http://localhost:3105/dashboard loads its assets from /jobs/dashboard/static).
 */
export function dashboardRoutes(app: Express, queues: JobsQueue[], auth: RequestHandler, config: JobsConfig): void {
  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(config.dashboard.basePath);
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'nself jobs' } },
  });
  const router = serverAdapter.getRouter() as RequestHandler;
  const mounts = new Set(['/dashboard', config.dashboard.basePath]);
  for (const mount of mounts) app.use(mount, auth, router);
}
