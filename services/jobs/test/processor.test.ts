import type { Job } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import type { JobEnvelope } from '../src/contracts.js';
import { JobCancelledError, JobTimeoutError, PermanentJobError } from '../src/job-errors.js';
import type { HandlerRegistry } from '../src/job-types/registry.js';
import type { JobHandler } from '../src/job-types/types.js';
import { AttemptTracker } from '../src/attempts.js';
import { uuidv7 } from '../src/ids.js';
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

const tracker = new AttemptTracker(10);

function processorWith(handler: JobHandler | null) {
  const registry: HandlerRegistry = { resolve: async () => handler };
  return createProcessor({ registry, logger: createMemoryLogger().logger, defaultTimeoutMs: 60_000, queue: 'q', tracker });
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

  it('fails a running attempt cancelled through the tracker, aborting the handler’s signal', async () => {
    let signal: AbortSignal | undefined;
    const waiting: JobHandler = {
      parse: (p) => p,
      run: (_p, ctx) => {
        signal = ctx.signal;
        return new Promise(() => undefined);
      },
    };
    const running = processorWith(waiting)(fakeJob('x', {}, 10_000), 'token');
    await new Promise((r) => setTimeout(r, 10));
    expect(tracker.fail('j1', new JobCancelledError('cancelled by u1'))).toBe(true);
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobCancelledError);
    expect((error as Error).message).toBe('JOB_CANCELLED: cancelled by u1');
    expect(signal?.aborted).toBe(true);
    expect(tracker.size).toBe(0);
    expect(tracker.fail('j1', new JobCancelledError())).toBe(false);
  });

  it('makes time-ordered UUIDv7 ids', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
    expect(parseInt(a.replace(/-/g, '').slice(0, 12), 16)).toBe(1_700_000_000_000);
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
