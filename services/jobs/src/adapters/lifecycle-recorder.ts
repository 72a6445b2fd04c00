import type { Logger } from '@nself/logging';
import {
  encodeCreate,
  encodeFailure,
  encodeResult,
  encodeScheduleRun,
  encodeTransition,
  type CreatedRow,
  type FailureRow,
  type LifecycleBatch,
  type ResultRow,
  type ScheduleRunRow,
  type TransitionRow,
} from './job-store.js';

export interface RecorderOptions {
  /** Persists one batch (a transaction); throws to have the batch kept and retried. */
  write: (batch: LifecycleBatch) => Promise<void>;
  logger: Logger;
  /** How long worker events wait to be coalesced (an "active" then "completed" becomes one row write). */
  flushMs: number;
  /** Rows per transaction. */
  batchSize: number;
  /** Above this many pending rows the oldest are dropped (BullMQ stays the source of truth). */
  maxBuffer: number;
  /** True for write errors that retrying cannot fix: the batch's bad rows are then isolated and dropped. */
  isPermanent?: (error: unknown) => boolean;
  onFlush?: (rows: number, ms: number) => void;
  onError?: () => void;
  onDrop?: (rows: number) => void;
}

interface Waiter {
  resolve: (persisted: boolean) => void;
}

/** How long created rows wait for company before their statement is sent. */
const CREATE_WINDOW_MS = 2;

const key = (queue: string, bullmqId: string) => `${queue}\u0000${bullmqId}`;

interface Taken {
  creates: string[];
  transitions: [string, string][];
  results: [string, string][];
  failures: string[];
  scheduleRuns: [string, { at: number; encoded: string }][];
}

/**
 * The Postgres mirror of job lifecycles, kept off the hot path: events are buffered in memory and written
 * in set-based batches. Worker events wait up to `flushMs` so a job's active + completed collapse into a
 * single upsert; `created()` (the API's writes) flushes at once — group commit, so a client can read its
 * job right after adding it. A failed write keeps the rows and retries with backoff.
 */
export class LifecycleRecorder {
  // Rows are kept encoded (one string each), see job-store.ts.
  private creates: string[] = [];
  private transitions = new Map<string, string>();
  private runningSources: { queue: string; source: () => Iterable<[string, { encodeActive?: () => string }]> }[] = [];
  private results = new Map<string, string>();
  private failures: string[] = [];
  private scheduleRuns = new Map<string, { at: number; encoded: string }>();
  private waiters: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerDelay = 0;
  private nudged = false;
  private flushing: Promise<void> | undefined;
  private failuresInARow = 0;
  private closed = false;

  constructor(private readonly options: RecorderOptions) {}

  get pending(): number {
    return (
      this.creates.length +
      this.transitions.size +
      this.results.size +
      this.failures.length +
      this.scheduleRuns.size
    );
  }

  /**
   * Records a job the API just added; resolves once it is in Postgres (true) or queued for a retry
   * (false). Rows arriving within ~2 ms share one statement (group commit).
   */
  created(row: CreatedRow): Promise<boolean> {
    this.creates.push(encodeCreate(row));
    const promise = new Promise<boolean>((resolve) => this.waiters.push({ resolve }));
    this.schedule(Math.min(CREATE_WINDOW_MS, this.options.flushMs), true);
    return promise;
  }

  transition(row: TransitionRow): void {
    this.transitionEncoded(row.queue, row.bullmqId, encodeTransition(row));
  }

  /** A transition already encoded (see encodeJobTransition): the worker's hot path. */
  transitionEncoded(queue: string, bullmqId: string, encoded: string): void {
    this.transitions.set(key(queue, bullmqId), encoded);
    this.afterAdd();
  }

  /**
   * Where running jobs come from (the workers' attempt trackers, entries keyed by queue): their
   * "active" rows are encoded at flush time, only for jobs still running then — a job that finishes
   * within the flush window costs one row write (its final state) and one encoding.
   */
  addRunningSource(queue: string, source: () => Iterable<[string, { encodeActive?: () => string }]>): void {
    this.runningSources.push({ queue, source });
  }

  /** A job started: makes sure a flush comes (which records it if it is still running by then). */
  nudge(): void {
    if (this.flushing) this.nudged = true;
    else this.schedule(this.options.flushMs);
  }

  result(row: ResultRow): void {
    this.results.set(key(row.queue, row.bullmqId), encodeResult(row));
    this.afterAdd();
  }

  failure(row: FailureRow): void {
    this.failures.push(encodeFailure(row));
    this.afterAdd();
  }

  scheduleRun(row: ScheduleRunRow): void {
    const previous = this.scheduleRuns.get(row.scheduleId);
    const at = row.lastRunAt.getTime();
    if (!previous || previous.at <= at) this.scheduleRuns.set(row.scheduleId, { at, encoded: encodeScheduleRun(row) });
    this.afterAdd();
  }

  /** Writes everything buffered now (waits for a flush in progress first). */
  async flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    while (this.flushing) await this.flushing;
    await this.runFlush();
  }

  /** Final flush; further events are still accepted and written by flush() calls. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (let i = 0; i < 3 && (this.pending || this.flushing); i += 1) {
      await this.flush().catch(() => undefined);
      if (this.failuresInARow) await new Promise((r) => setTimeout(r, 200));
    }
    if (this.pending) this.options.logger.error({ rows: this.pending }, 'job mirror rows not written at shutdown');
    for (const waiter of this.waiters.splice(0)) waiter.resolve(false);
  }

  private afterAdd(): void {
    if (this.pending > this.options.maxBuffer) this.dropOldest();
    this.schedule(this.pending >= this.options.batchSize ? 0 : this.options.flushMs);
  }

  private schedule(delayMs: number, sooner = false): void {
    if (this.closed && delayMs > 0 && !sooner) return;
    if (this.flushing) return; // the running flush schedules the next one when it ends
    if (this.timer) {
      if (delayMs >= this.timerDelay) return;
      clearTimeout(this.timer);
    }
    this.timerDelay = delayMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runFlush();
    }, delayMs);
    this.timer.unref?.();
  }

  private takeBatch(): { batch: LifecycleBatch; taken: Taken; waiters: Waiter[] } {
    const size = this.options.batchSize;
    // Jobs still running now are recorded as "active" (unless a newer event of theirs is buffered).
    for (const { queue, source } of this.runningSources) {
      for (const [bullmqId, attempt] of source()) {
        const k = key(queue, bullmqId);
        if (!this.transitions.has(k) && attempt.encodeActive) this.transitions.set(k, attempt.encodeActive());
      }
    }
    const creates = this.creates.splice(0, size);
    const transitions = this.take(this.transitions, size);
    const results = this.take(this.results, size);
    const failures = this.failures.splice(0, size);
    const scheduleRuns = this.take(this.scheduleRuns, size);
    // Waiters are released once every row added before them is written.
    const waiters = this.creates.length ? [] : this.waiters.splice(0);
    return {
      batch: {
        creates,
        transitions: transitions.map(([, v]) => v),
        results: results.map(([, v]) => v),
        failures,
        scheduleRuns: scheduleRuns.map(([, v]) => v.encoded),
      },
      taken: { creates, transitions, results, failures, scheduleRuns },
      waiters,
    };
  }

  private take<T>(map: Map<string, T>, size: number): [string, T][] {
    const out: [string, T][] = [];
    for (const entry of map) {
      if (out.length >= size) break;
      out.push(entry);
      map.delete(entry[0]);
    }
    return out;
  }

  private restore(taken: Taken): void {
    this.creates = [...taken.creates, ...this.creates];
    // A newer event of the same job, recorded while the write failed, wins over the restored one.
    for (const [k, v] of taken.transitions) if (!this.transitions.has(k)) this.transitions.set(k, v);
    for (const [k, v] of taken.results) if (!this.results.has(k)) this.results.set(k, v);
    this.failures = [...taken.failures, ...this.failures];
    for (const [k, v] of taken.scheduleRuns) if (!this.scheduleRuns.has(k)) this.scheduleRuns.set(k, v);
  }

  private dropOldest(): void {
    let excess = this.pending - this.options.maxBuffer;
    let dropped = 0;
    for (const map of [this.transitions, this.results] as Map<string, unknown>[]) {
      for (const k of map.keys()) {
        if (excess <= 0) break;
        map.delete(k);
        excess -= 1;
        dropped += 1;
      }
    }
    if (excess > 0) {
      const n = Math.min(excess, this.failures.length);
      this.failures.splice(0, n);
      dropped += n;
    }
    if (dropped) {
      this.options.onDrop?.(dropped);
      this.options.logger.error({ dropped }, 'job mirror buffer full: dropped the oldest lifecycle rows');
    }
  }

  /** Writes each row of a batch alone; returns how many were refused for good (transient errors throw). */
  private async writeIsolated(batch: LifecycleBatch): Promise<number> {
    let dropped = 0;
    const kinds = ['creates', 'transitions', 'results', 'failures', 'scheduleRuns'] as const;
    for (const kind of kinds) {
      for (const row of batch[kind]) {
        const single: LifecycleBatch = { creates: [], transitions: [], results: [], failures: [], scheduleRuns: [] };
        single[kind] = [row];
        try {
          await this.options.write(single);
        } catch (error) {
          if (!this.options.isPermanent?.(error)) throw error;
          dropped += 1;
          this.options.logger.error({ err: error, kind, row: row.slice(0, 500) }, 'job mirror row refused by Postgres');
        }
      }
    }
    return dropped;
  }

  private runFlush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = (async () => {
      // The first round always runs: running jobs (not counted in `pending`) may need their rows.
      for (let first = true; first || this.pending || this.waiters.length; first = false) {
        this.nudged = false;
        const { batch, taken, waiters } = this.takeBatch();
        const rows =
          batch.creates.length + batch.transitions.length + batch.results.length + batch.failures.length + batch.scheduleRuns.length;
        const started = performance.now();
        try {
          if (rows) await this.options.write(batch);
          this.failuresInARow = 0;
          this.options.onFlush?.(rows, performance.now() - started);
          for (const waiter of waiters) waiter.resolve(true);
        } catch (error) {
          if (this.options.isPermanent?.(error)) {
            // A poison row must not block the mirror: write the rows one by one and drop the bad ones.
            const isolated = await this.writeIsolated(batch).catch(() => null);
            if (isolated !== null) {
              this.options.onDrop?.(isolated);
              // A batch racing the API's insert of the same job can hit the primary key (ON CONFLICT arbitrates
              // on (queue, bullmq_id) only); row by row it then goes through and nothing is dropped.
              if (isolated) this.options.logger.error({ err: error, dropped: isolated }, 'job mirror rows refused by Postgres were dropped');
              else this.options.logger.warn({ err: error }, 'job mirror batch conflicted with a concurrent insert; rewritten row by row');
              for (const waiter of waiters) waiter.resolve(true);
              continue;
            }
          }
          this.failuresInARow += 1;
          this.restore(taken);
          this.options.onError?.();
          this.options.logger.error({ err: error, rows, attempt: this.failuresInARow }, 'writing the job mirror failed; will retry');
          for (const waiter of waiters) waiter.resolve(false);
          return;
        }
        // Keep coalescing worker events unless a backlog is building up.
        if (this.pending < this.options.batchSize && !this.creates.length && !this.waiters.length) break;
      }
    })().finally(() => {
      // Cleared here, not inside the async body: a round with nothing to write finishes synchronously,
      // before `this.flushing` is even assigned.
      this.flushing = undefined;
      if (this.failuresInARow) {
        const backoff = Math.min(5000, 100 * 2 ** Math.min(this.failuresInARow, 6));
        this.schedule(backoff);
      } else if (this.pending || this.waiters.length || this.nudged) {
        const soon = this.creates.length > 0 || this.pending >= this.options.batchSize;
        this.schedule(soon ? 0 : this.options.flushMs, soon);
      }
    });
    return this.flushing;
  }
}
