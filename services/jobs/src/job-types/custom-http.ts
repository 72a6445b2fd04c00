import { createHmac } from 'node:crypto';
import type { SafeHttpClient } from '../adapters/safe-http.js';
import { PermanentJobError, RetryableJobError } from '../job-errors.js';
import { decodeBody, retryableStatus, toJobError } from './http-request.js';
import type { JobContext, JobHandler } from './types.js';

/** A custom job type as registered over POST /v1/job-types. */
export interface CustomJobType {
  name: string;
  kind: 'webhook' | 'hasura-action';
  url: string;
  signingSecret: string;
  timeoutMs: number;
}

export const SIGNATURE_HEADER = 'x-nself-signature';
export const TIMESTAMP_HEADER = 'x-nself-timestamp';

/**
 * The signature of a call: HMAC-SHA256 over "<timestamp>.<raw body>" with the type's signing secret, hex,
 * sent as `x-nself-signature: v1=<hex>` with `x-nself-timestamp: <unix seconds>` (Stripe-style; the
 * timestamp lets a receiver refuse replays).
 */
export function signPayload(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function requestBody(type: CustomJobType, payload: unknown, ctx: JobContext): unknown {
  if (type.kind === 'hasura-action') {
    // Hasura Action handler shape: the type is the action name, the payload its input.
    return {
      action: { name: type.name },
      input: payload,
      session_variables: {
        'x-hasura-role': 'admin',
        ...(ctx.meta.createdBy ? { 'x-hasura-user-id': ctx.meta.createdBy } : {}),
        'x-hasura-source-account-id': ctx.meta.sourceAccountId,
      },
      request_query: '',
    };
  }
  return {
    id: ctx.jobId,
    type: type.name,
    queue: ctx.queue,
    attempt: ctx.attempt,
    sourceAccountId: ctx.meta.sourceAccountId,
    createdBy: ctx.meta.createdBy,
    scheduleId: ctx.meta.scheduleId ?? null,
    payload,
  };
}

/** Runs a custom type: POSTs the job to the registered URL (SSRF-guarded, signed); the response is the result. */
export function customHttpHandler(type: CustomJobType, http: SafeHttpClient): JobHandler<unknown> {
  return {
    parse: (payload) => payload,
    async run(payload, ctx) {
      const body = JSON.stringify(requestBody(type, payload, ctx));
      const timestamp = Math.floor(Date.now() / 1000);
      let response;
      try {
        response = await http.request({
          url: type.url,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'nself-jobs/1.0',
            'x-nself-job-id': ctx.jobId,
            'x-nself-job-type': type.name,
            'x-nself-attempt': String(ctx.attempt),
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signPayload(type.signingSecret, timestamp, body),
          },
          body,
          timeoutMs: type.timeoutMs,
          followRedirects: false,
          signal: ctx.signal,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason as Error;
        throw toJobError(error);
      }
      const result = decodeBody(response.body, response.headers['content-type']);
      if (response.status < 200 || response.status >= 300) {
        const detail =
          result && typeof result === 'object' && typeof (result as { message?: unknown }).message === 'string'
            ? `: ${(result as { message: string }).message.slice(0, 300)}`
            : '';
        const message = `handler answered ${response.status}${detail}`;
        throw retryableStatus(response.status)
          ? new RetryableJobError('HANDLER_FAILED', message)
          : new PermanentJobError('HANDLER_REJECTED', message);
      }
      return result;
    },
  };
}
