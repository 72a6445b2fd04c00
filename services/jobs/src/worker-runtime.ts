import { Worker } from 'bullmq';
import { retention } from './adapters/queues.js';
import type { Redis } from 'ioredis';
import { CronExpressionParser } from 'cron-parser';
import type { Logger } from '@nself/logging';
import type { JobEventsPublisher } from './adapters/job-events.js';
import { encodeJobTransition, type JobRowBase } from './adapters/job-store.js';
import type { LifecycleRecorder } from './adapters/lifecycle-recorder.js';
import type { JobsConfig } from './config.js';
import type { JobEnvelope, JobStatus } from './contracts.js';
import { uuidv7 } from './ids.js';
import { AttemptTracker } from './attempts.js';
import { errorCode, isCancellation, JobCancelledError, WorkerShutdownError } from './job-errors.js';
import type { HandlerRegistry } from './job-types/registry.js';
import type { JobsMetrics } from './metrics.js';
import { createProcessor, jobRowId, type JobsJob } from './processor.js';

export interface WorkerRuntimeDeps {
  config: JobsConfig;
  logger: Logger;
  /** A worker connection (maxRetriesPerRequest: null); BullMQ duplicates it for blocking reads. */
  connection: Redis;
  registry: HandlerRegistry;
  recorder: LifecycleRecorder;
  metrics: JobsMetrics;
  events?: JobEventsPublisher;
}

export interface WorkerRuntimeOptions {
  concurrency?: number;
  /** Start fetching at once (default true); tests build a backlog first and call run(). */
  autorun?: boolean;
}

export interface JobWorkers {
  readonly queues: string[];
  run(): void;
  /** Aborts a job this process is running; false when it is not running here. */
  cancel(queue: string, bullmqId: string, reason: string): boolean;
  isRunning(): boolean;
  /** Stops fetching, lets running jobs finish (BullMQ graceful close), then flushes the mirror. */
  close(): Promise<void>;
  /** Interrupts every running job; they go back to the queue (shutdown past its grace period). */
  releaseAll(): void;
}

/** The mirror row of a BullMQ job, derived from the job alone (so any event can create the row). */
export function baseRow(queue: string, job: JobsJob): JobRowBase {
  const meta = job.data?.meta;
  return {
    id: jobRowId(queue, job),
    sourceAccountId: meta?.sourceAccountId ?? 'primary',
    queue,
    bullmqId: job.id!,
    type: job.name,
    priority: job.opts.priority ?? 0,
    payload: job.data?.payload ?? {},
    maxAttempts: job.opts.attempts ?? 1,
    delayMs: job.opts.delay ?? 0,
    timeoutMs: meta?.timeoutMs ?? null,
    scheduleId: meta?.scheduleId ?? null,
    createdBy: meta?.createdBy ?? null,
    requestId: meta?.requestId ?? null,
    createdAt: new Date(job.timestamp),
  };
}

/** When a job was due: a scheduler's job id carries its exact slot (repeat:<scheduler>:<millis>). */
export function dueAt(job: JobsJob): number {
  const slot = /^repeat:.+:(\d+)$/.exec(job.id ?? '');
  return slot ? Number(slot[1]) : job.timestamp + (job.delay ?? 0);
}

function nextCronRun(cron: string, tz: string | undefined, after: Date): Date | null {
  try {
    return CronExpressionParser.parse(cron, { currentDate: after, tz: tz ?? 'UTC' }).next().toDate();
  } catch {
    return null;
  }
}

/**
 * One BullMQ Worker per queue with the service's processor, stall settings and lifecycle mirroring:
 * worker events (active / completed / failed) go to the batched Postgres recorder, metrics and, for
 * final failures, the event bus. Nothing on this path waits for Postgres.
 */
export function createJobWorkers(deps: WorkerRuntimeDeps, queues: string[], options: WorkerRuntimeOptions = {}): JobWorkers {
  const { config, logger, recorder, metrics } = deps;
  const workers = new Map<string, Worker<JobEnvelope, unknown, string>>();
  // A cancel can arrive between BullMQ moving a job to active and the processor starting; it is kept
  // briefly so the processor sees it.
  const pendingCancels = new Map<string, { reason: string; at: number }>();
  const takePendingCancel = (queue: string) => (bullmqId: string) => {
    const key = `${queue}\u0000${bullmqId}`;
    const entry = pendingCancels.get(key);
    if (!entry) return undefined;
    pendingCancels.delete(key);
    return Date.now() - entry.at < 60_000 ? entry.reason : undefined;
  };

  const trackers = new Map<string, AttemptTracker>();

  for (const queue of queues) {
    const tracker = new AttemptTracker();
    trackers.set(queue, tracker);
    // Pre-bound metric series, looked up once per queue/type instead of once per job.
    const children = new Map<string, { completed: (by?: number) => void; duration: (value: number) => void }>();
    const forType = (type: string) => {
      let child = children.get(type);
      if (!child) {
        child = {
          completed: metrics.processed.child({ queue, type, outcome: 'completed' }),
          duration: metrics.duration.child({ queue, type }),
        };
        children.set(type, child);
      }
      return child;
    };
    const waitTime = metrics.waitTime.child({ queue });
    recorder.addRunningSource(queue, () => tracker.unrecorded());
    // As an attempt starts (inside the processor: no 'active' event listener on the hot path).
    const onStart = (job: JobsJob, startedAt: number) => {
      waitTime(Math.max(0, startedAt - dueAt(job)) / 1000);
      const meta = job.data?.meta;
      if (meta?.scheduleId) {
        const firedAt = new Date(dueAt(job));
        recorder.scheduleRun({
          scheduleId: meta.scheduleId,
          lastRunAt: firedAt,
          nextRunAt: meta.cron ? nextCronRun(meta.cron, meta.tz, firedAt) : null,
        });
      }
      recorder.nudge();
      return () => encodeJobTransition(jobRowId(queue, job), queue, job, 'active', startedAt, null);
    };
    const worker = new Worker<JobEnvelope, unknown, string>(
      queue,
      createProcessor({
        registry: deps.registry,
        logger: logger.child({ queue }),
        defaultTimeoutMs: config.jobTimeoutMs,
        queue,
        tracker,
        takePendingCancel: takePendingCancel(queue),
        onStart,
      }),
      {
        connection: deps.connection,
        prefix: config.bullPrefix,
        concurrency: options.concurrency ?? config.concurrency,
        autorun: options.autorun ?? true,
        stalledInterval: config.stalledIntervalMs,
        lockDuration: config.lockDurationMs,
        maxStalledCount: config.maxStalledCount,
        ...retention(config),
      },
    );

    worker.on('completed', (job: JobsJob, result: unknown) => {
      const finishedOn = job.finishedOn ?? Date.now();
      const durationMs = job.processedOn ? finishedOn - job.processedOn : null;
      const child = forType(job.name);
      child.completed();
      if (durationMs !== null) child.duration(durationMs / 1000);
      const rowId = jobRowId(queue, job);
      recorder.transitionEncoded(queue, job.id!, encodeJobTransition(rowId, queue, job, 'completed', job.processedOn ?? null, finishedOn));
      // A job that returned nothing has no result row: its duration is finished_at - started_at.
      const sourceAccountId = job.data?.meta?.sourceAccountId ?? 'primary';
      if (result !== undefined && result !== null) {
        recorder.result({
          id: uuidv7(finishedOn),
          sourceAccountId,
          queue,
          bullmqId: job.id!,
          result,
          durationMs,
          createdAt: new Date(finishedOn),
        });
      }
      deps.events?.completed({
        jobId: rowId,
        queue,
        type: job.name,
        sourceAccountId,
        userId: job.data?.meta?.createdBy ?? null,
      });
    });

    worker.on('failed', (job: JobsJob | undefined, error: Error) => {
      if (!job) {
        logger.error({ queue, err: error }, 'a job failed and was removed before it could be recorded');
        return;
      }
      const stalledOut = /stalled more than allowable limit/.test(error.message);
      const final = Boolean(job.finishedOn) || stalledOut;
      const cancelled = final && isCancellation(error);
      const outcome = cancelled ? 'cancelled' : final ? 'failed' : 'retried';
      metrics.processed.child({ queue, type: job.name, outcome })();
      const base = baseRow(queue, job);
      const now = job.finishedOn ?? Date.now();
      const status: JobStatus = cancelled ? 'cancelled' : final ? 'failed' : job.delay > 0 ? 'delayed' : 'waiting';
      recorder.transitionEncoded(
        queue,
        job.id!,
        encodeJobTransition(base.id, queue, job, status, job.processedOn ?? null, final ? now : null),
      );
      recorder.failure({
        id: uuidv7(now),
        sourceAccountId: base.sourceAccountId,
        queue,
        bullmqId: base.bullmqId,
        attempt: Math.max(1, job.attemptsStarted || job.attemptsMade),
        error: (error.message || String(error)).slice(0, 4000),
        errorName: errorCode(error),
        isFinal: final,
        failedAt: new Date(now),
      });
      if (final && !cancelled) {
        deps.events?.failed({
          jobId: base.id,
          queue,
          type: job.name,
          error: error.message,
          attempts: job.attemptsMade,
          sourceAccountId: base.sourceAccountId,
          userId: base.createdBy,
        });
      }
      logger.warn(
        { queue, jobId: base.id, bullmqId: job.id, type: job.name, attempt: job.attemptsMade, final, error: error.message },
        final ? 'job failed' : 'job attempt failed, will retry',
      );
    });

    worker.on('stalled', (jobId: string) => {
      metrics.stalled.inc({ queue });
      logger.warn({ queue, bullmqId: jobId }, 'stalled job moved back to wait');
    });
    worker.on('error', (error: Error) => logger.error({ queue, err: error }, 'worker error'));
    workers.set(queue, worker);
  }

  metrics.setActiveSource(() => new Map([...trackers].map(([queue, tracker]) => [queue, tracker.size])));

  return {
    queues,
    run() {
      for (const worker of workers.values()) {
        if (!worker.isRunning()) void worker.run().catch((error: unknown) => logger.error({ err: error }, 'worker stopped'));
      }
    },
    cancel(queue, bullmqId, reason) {
      const tracker = trackers.get(queue);
      if (!tracker) return false;
      if (tracker.fail(bullmqId, new JobCancelledError(reason))) return true;
      pendingCancels.set(`${queue}\u0000${bullmqId}`, { reason, at: Date.now() });
      if (pendingCancels.size > 10_000) pendingCancels.delete(pendingCancels.keys().next().value!);
      return false;
    },
    releaseAll() {
      for (const tracker of trackers.values()) tracker.failAll(() => new WorkerShutdownError());
    },
    isRunning: () => [...workers.values()].every((w) => w.isRunning()),
    async close() {
      await Promise.all([...workers.values()].map((w) => w.close()));
      await recorder.flush();
    },
  };
}
