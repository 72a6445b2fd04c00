import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { PermanentJobError, RetryableJobError } from '../job-errors.js';
import { retryableStatus } from './http-request.js';
import { parserFor } from './parse.js';
import type { JobHandler } from './types.js';

export interface NotificationsSettings {
  /** Base URL of the notifications service (JOBS_NOTIFICATIONS_URL), e.g. http://notifications:3102. */
  url?: string;
  /** Sent as x-admin-secret (JOBS_NOTIFICATIONS_ADMIN_SECRET, else ADMIN_SECRET). */
  adminSecret?: string;
  timeoutMs: number;
}

/**
 * send-email goes through the notifications service — no SMTP here: POST {url}/v1/notifications with the
 * admin secret, acting for the job's app (x-source-account-id), channel "email". The idempotency key is
 * the job's id, so a retried attempt never sends the email twice.
 */
export function sendEmailHandler(settings: NotificationsSettings): JobHandler<JobPayloads['send-email']> {
  return {
    parse: parserFor(builtinPayloadSchemas['send-email']),
    async run(payload, ctx) {
      if (!settings.url || !settings.adminSecret) {
        throw new PermanentJobError('NOTIFICATIONS_NOT_CONFIGURED', 'set JOBS_NOTIFICATIONS_URL and ADMIN_SECRET');
      }
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(settings.timeoutMs)]);
      let response: Response;
      try {
        response = await fetch(`${settings.url}/v1/notifications`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-admin-secret': settings.adminSecret,
            'x-source-account-id': ctx.meta.sourceAccountId,
            ...(ctx.meta.requestId ? { 'x-request-id': ctx.meta.requestId } : {}),
          },
          body: JSON.stringify({
            userId: payload.userId,
            template: payload.template,
            data: payload.data,
            channel: 'email',
            ...(payload.category ? { category: payload.category } : {}),
            ...(payload.priority ? { priority: payload.priority } : {}),
            idempotencyKey: `jobs-${ctx.jobId}`,
          }),
          signal,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason as Error;
        throw new RetryableJobError('NOTIFICATIONS_UNREACHABLE', error instanceof Error ? error.message : String(error));
      }
      const text = await response.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: kept out of the result
      }
      if (!response.ok) {
        const detail = typeof body.code === 'string' ? `${response.status} ${body.code}` : String(response.status);
        const message = `notifications answered ${detail}`;
        throw retryableStatus(response.status)
          ? new RetryableJobError('NOTIFICATIONS_FAILED', message)
          : new PermanentJobError('NOTIFICATIONS_REJECTED', message);
      }
      return {
        notificationId: (body.id ?? body.notificationId ?? null) as string | null,
        status: (body.status ?? 'queued') as string,
      };
    },
  };
}
