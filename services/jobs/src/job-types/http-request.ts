import { HttpRequestError, type SafeHttpClient } from '../adapters/safe-http.js';
import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { PermanentJobError, RetryableJobError } from '../job-errors.js';
import { parserFor } from './parse.js';
import type { JobHandler } from './types.js';

const KEPT_HEADERS = ['content-type', 'content-length', 'location', 'etag', 'last-modified', 'retry-after'];

/** Maps an outbound-request failure to a retryable or permanent job failure. */
export function toJobError(error: unknown): Error {
  if (error instanceof HttpRequestError) {
    return error.retryable ? new RetryableJobError(error.code, error.message) : new PermanentJobError(error.code, error.message);
  }
  return error instanceof Error ? error : new Error(String(error));
}

/** 5xx, 408 and 429 may pass on another attempt; other statuses will not. */
export const retryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 429;

export function decodeBody(body: Buffer, contentType: string | undefined): unknown {
  const text = body.toString('utf8');
  if (contentType && /[/+]json\b/i.test(contentType)) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** Calls a URL (SSRF-guarded, with timeout and response size cap); the response is the job's result. */
export function httpRequestHandler(deps: { http: SafeHttpClient; timeoutMs: number }): JobHandler<JobPayloads['http-request']> {
  return {
    parse: parserFor(builtinPayloadSchemas['http-request']),
    async run(payload, ctx) {
      const headers = { ...payload.headers };
      let body: string | undefined;
      if (payload.body !== undefined) {
        if (typeof payload.body === 'string') {
          body = payload.body;
        } else {
          body = JSON.stringify(payload.body);
          if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
        }
      }
      let response;
      try {
        response = await deps.http.request({
          url: payload.url,
          method: payload.method,
          headers,
          body,
          timeoutMs: payload.timeoutMs ?? deps.timeoutMs,
          maxResponseBytes: payload.maxResponseBytes,
          followRedirects: payload.followRedirects,
          signal: ctx.signal,
        });
      } catch (error) {
        if (ctx.signal.aborted) throw ctx.signal.reason as Error;
        throw toJobError(error);
      }
      const ok = payload.expectStatus ? payload.expectStatus.includes(response.status) : response.status >= 200 && response.status < 300;
      if (!ok) {
        const message = `${payload.method} ${new URL(response.url).origin} answered ${response.status}`;
        throw retryableStatus(response.status)
          ? new RetryableJobError('HTTP_STATUS', message)
          : new PermanentJobError('HTTP_STATUS', message);
      }
      const kept = Object.fromEntries(
        KEPT_HEADERS.filter((h) => response.headers[h] !== undefined).map((h) => [h, response.headers[h]]),
      );
      return {
        status: response.status,
        headers: kept,
        body: decodeBody(response.body, response.headers['content-type']),
        url: response.url,
        redirects: response.redirects,
      };
    },
  };
}
