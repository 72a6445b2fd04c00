import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import type { LifecycleBatch, TransitionRow } from '../src/adapters/job-store.js';
import { LifecycleRecorder } from '../src/adapters/lifecycle-recorder.js';

function row(bullmqId: string, status: TransitionRow['status']): TransitionRow {
  return {
    id: `id-${bullmqId}`,
    sourceAccountId: 'primary',
    queue: 'q',
    bullmqId,
    type: 'noop',
    priority: 0,
    payload: {},
    maxAttempts: 1,
    delayMs: 0,
    timeoutMs: null,
    scheduleId: null,
    createdBy: null,
    requestId: null,
    createdAt: new Date(),
    status,
    attemptsMade: 0,
    startedAt: null,
    finishedAt: null,
  };
}

const decode = (encoded: string) => JSON.parse(encoded) as { b: string; s: string };

function recorder(write: (batch: LifecycleBatch) => Promise<void>, options: Partial<{ flushMs: number; batchSize: number; maxBuffer: number }> = {}) {
  let dropped = 0;
  const r = new LifecycleRecorder({
    write,
    isPermanent: (e) => (e as { code?: string }).code === '22P05',
    logger: createMemoryLogger().logger,
    flushMs: options.flushMs ?? 30,
    batchSize: options.batchSize ?? 100,
    maxBuffer: options.maxBuffer ?? 1000,
    onDrop: (n) => (dropped += n),
  });
  return { r, dropped: () => dropped };
}

describe('LifecycleRecorder', () => {
  it('coalesces the events of a job within the flush window into one row write', async () => {
    const batches: LifecycleBatch[] = [];
    const { r } = recorder(async (b) => void batches.push(b));
    r.transition(row('1', 'active'));
    r.transition(row('2', 'active'));
    r.transition(row('1', 'completed'));
    await r.flush();
    expect(batches).toHaveLength(1);
    expect(batches[0]!.transitions.map(decode).map((t) => [t.b, t.s])).toEqual([
      ['1', 'completed'],
      ['2', 'active'],
    ]);
  });

  it('group-commits created rows at once and resolves their promises after the write', async () => {
    let writes = 0;
    const { r } = recorder(async () => {
      writes += 1;
      await new Promise((res) => setTimeout(res, 20));
    }, { flushMs: 10_000 });
    const persisted = await Promise.all([r.created({ ...row('a', 'waiting') }), r.created({ ...row('b', 'waiting') })]);
    expect(persisted).toEqual([true, true]);
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThanOrEqual(2);
  });

  it('keeps rows after a failed write and writes them on the retry, newest state winning', async () => {
    const batches: LifecycleBatch[] = [];
    let fail = true;
    const { r } = recorder(async (b) => {
      if (fail) {
        fail = false;
        throw new Error('postgres down');
      }
      batches.push(b);
    });
    r.transition(row('1', 'active'));
    r.failure({ id: 'f', sourceAccountId: 'primary', queue: 'q', bullmqId: '1', attempt: 1, error: 'x', errorName: 'E', isFinal: false, failedAt: new Date() });
    const created = r.created(row('2', 'waiting'));
    expect(await created).toBe(false); // not written yet, kept for the retry
    r.transition(row('1', 'completed'));
    await new Promise((res) => setTimeout(res, 400)); // backoff, then the retry
    await r.flush();
    const all = batches.flatMap((b) => b.transitions.map(decode).map((t) => `${t.b}:${t.s}`));
    expect(all).toEqual(['1:completed']);
    expect(batches.flatMap((b) => b.creates.map(decode).map((c) => c.b))).toEqual(['2']);
    expect(batches.flatMap((b) => b.failures)).toHaveLength(1);
  });

  it('splits large backlogs into batches of batchSize', async () => {
    const sizes: number[] = [];
    const { r } = recorder(async (b) => void sizes.push(b.transitions.length), { batchSize: 10 });
    for (let i = 0; i < 35; i += 1) r.transition(row(String(i), 'completed'));
    await r.flush();
    await r.close();
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(35);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
  });

  it('drops the oldest rows (and says so) when the buffer is full, never blocking the worker', async () => {
    const { r, dropped } = recorder(async () => {
      throw new Error('postgres down');
    }, { maxBuffer: 100, flushMs: 10_000 });
    for (let i = 0; i < 150; i += 1) r.transition(row(String(i), 'completed'));
    expect(r.pending).toBeLessThanOrEqual(100);
    expect(dropped()).toBe(50);
  });

  it('isolates and drops rows Postgres refuses for good, writing the rest of the batch', async () => {
    const written: string[] = [];
    const { r, dropped } = recorder(async (b) => {
      const rows = b.transitions.map(decode);
      if (rows.some((t) => t.b === 'poison')) throw Object.assign(new Error('unsupported Unicode escape sequence'), { code: '22P05' });
      written.push(...rows.map((t) => t.b));
    });
    r.transition(row('a', 'completed'));
    r.transition(row('poison', 'completed'));
    r.transition(row('b', 'completed'));
    await r.flush();
    expect(written.sort()).toEqual(['a', 'b']);
    expect(dropped()).toBe(1);
    expect(r.pending).toBe(0);
  });
});
