import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import type { JobEnvelope } from '../src/contracts.js';
import { JobCancelledError, JobTimeoutError, PermanentJobError } from '../src/job-errors.js';
import type { HandlerRegistry } from '../src/job-types/registry.js';
import type { JobHandler } from '../src/job-types/types.js';
import { createProcessor } from '../src/processor.js';

function fakeJob(name: string, payload: unknown, timeoutMs: number): Job<JobEnvelope, unknown, string> {
  return {
    id: 'j1',
    name,
    timestamp: Date.now(),
    attemptsMade: 0,
    data: { payload, meta: { id: '01a20000-0000-7000-8000-000000000001', sourceAccountId: 'primary', createdBy: null, timeoutMs } },
  } as unknown as Job<JobEnvelope, unknown, string>;
}

function processorWith(handler: JobHandler | null) {
  const registry: HandlerRegistry = { resolve: async () => handler };
  return createProcessor({ registry, logger: createMemoryLogger().logger, defaultTimeoutMs: 60_000, queue: 'q' });
}

describe('processor', () => {
  it('fails an attempt at its timeout even when the handler ignores the abort signal', async () => {
    let sawAbort = false;
    const stubborn: JobHandler = {
      parse: (p) => p,
      run: (_p, ctx) => {
        ctx.signal.addEventListener('abort', () => (sawAbort = true));
        return new Promise(() => undefined); // never settles
      },
    };
    const started = Date.now();
    const error = await processorWith(stubborn)(fakeJob('x', {}, 150)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobTimeoutError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(sawAbort).toBe(true);
  });

  it('turns a cancellation signal from BullMQ into a final JOB_CANCELLED failure', async () => {
    const waiting: JobHandler = { parse: (p) => p, run: () => new Promise(() => undefined) };
    const controller = new AbortController();
    const running = processorWith(waiting)(fakeJob('x', {}, 10_000), 'token', controller.signal);
    controller.abort('cancelled by u1');
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobCancelledError);
    expect((error as Error).message).toBe('JOB_CANCELLED: cancelled by u1');
  });

  it('fails permanently for unknown types and invalid payloads, and returns the handler result', async () => {
    expect(await processorWith(null)(fakeJob('nope', {}, 1000)).catch((e: unknown) => e)).toBeInstanceOf(PermanentJobError);
    const strict: JobHandler = {
      parse: () => {
        throw new PermanentJobError('INVALID_PAYLOAD', 'url: required');
      },
      run: async () => 'never',
    };
    expect(await processorWith(strict)(fakeJob('x', {}, 1000)).catch((e: unknown) => (e as PermanentJobError).code)).toBe('INVALID_PAYLOAD');
    const ok: JobHandler = { parse: (p) => p, run: async (p) => ({ got: p }) };
    expect(await processorWith(ok)(fakeJob('x', { a: 1 }, 1000))).toEqual({ got: { a: 1 } });
  });
});
