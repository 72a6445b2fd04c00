import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { CronExpressionParser } from 'cron-parser';
import type { Logger } from '@nself/logging';
import type { JobEventsPublisher } from './adapters/job-events.js';
import type { JobRowBase } from './adapters/job-store.js';
import type { LifecycleRecorder } from './adapters/lifecycle-recorder.js';
import type { JobsConfig } from './config.js';
import type { JobEnvelope, JobStatus } from './contracts.js';
import { uuidv7 } from './ids.js';
import { errorCode, isCancellation, SHUTDOWN_REASON } from './job-errors.js';
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

  for (const queue of queues) {
    const worker = new Worker<JobEnvelope, unknown, string>(
      queue,
      createProcessor({
        registry: deps.registry,
        logger: logger.child({ queue }),
        defaultTimeoutMs: config.jobTimeoutMs,
        queue,
        takePendingCancel: takePendingCancel(queue),
      }),
      {
        connection: deps.connection,
        prefix: config.bullPrefix,
        concurrency: options.concurrency ?? config.concurrency,
        autorun: options.autorun ?? true,
        stalledInterval: config.stalledIntervalMs,
        lockDuration: config.lockDurationMs,
        maxStalledCount: config.maxStalledCount,
      },
    );

    worker.on('active', (job: JobsJob) => {
      metrics.active.inc({ queue });
      const startedAt = job.processedOn ?? Date.now();
      metrics.waitTime.observe({ queue }, Math.max(0, startedAt - dueAt(job)) / 1000);
      recorder.transition({
        ...baseRow(queue, job),
        status: 'active',
        attemptsMade: job.attemptsMade,
        startedAt: new Date(startedAt),
        finishedAt: null,
      });
      const meta = job.data?.meta;
      if (meta?.scheduleId) {
        const firedAt = new Date(dueAt(job));
        recorder.scheduleRun({
          scheduleId: meta.scheduleId,
          lastRunAt: firedAt,
          nextRunAt: meta.cron ? nextCronRun(meta.cron, meta.tz, firedAt) : null,
        });
      }
    });

    worker.on('completed', (job: JobsJob, result: unknown) => {
      metrics.active.dec({ queue });
      const finishedOn = job.finishedOn ?? Date.now();
      const durationMs = job.processedOn ? finishedOn - job.processedOn : null;
      metrics.processed.inc({ queue, type: job.name, outcome: 'completed' });
      if (durationMs !== null) metrics.duration.observe({ queue, type: job.name }, durationMs / 1000);
      const base = baseRow(queue, job);
      recorder.transition({
        ...base,
        status: 'completed',
        attemptsMade: job.attemptsMade,
        startedAt: job.processedOn ? new Date(job.processedOn) : null,
        finishedAt: new Date(finishedOn),
      });
      recorder.result({
        id: uuidv7(finishedOn),
        sourceAccountId: base.sourceAccountId,
        jobId: base.id,
        result: result ?? null,
        durationMs,
        createdAt: new Date(finishedOn),
      });
      deps.events?.completed({
        jobId: base.id,
        queue,
        type: job.name,
        sourceAccountId: base.sourceAccountId,
        userId: base.createdBy,
      });
    });

    worker.on('failed', (job: JobsJob | undefined, error: Error) => {
      if (!job) {
        logger.error({ queue, err: error }, 'a job failed and was removed before it could be recorded');
        return;
      }
      // A job failed by the stalled checker was never active in this process.
      const stalledOut = /stalled more than allowable limit/.test(error.message);
      if (!stalledOut) metrics.active.dec({ queue });
      const final = Boolean(job.finishedOn) || stalledOut;
      const cancelled = final && isCancellation(error);
      const outcome = cancelled ? 'cancelled' : final ? 'failed' : 'retried';
      metrics.processed.inc({ queue, type: job.name, outcome });
      const base = baseRow(queue, job);
      const now = job.finishedOn ?? Date.now();
      const status: JobStatus = cancelled ? 'cancelled' : final ? 'failed' : job.delay > 0 ? 'delayed' : 'waiting';
      recorder.transition({
        ...base,
        status,
        attemptsMade: job.attemptsMade,
        startedAt: job.processedOn ? new Date(job.processedOn) : null,
        finishedAt: final ? new Date(now) : null,
      });
      recorder.failure({
        id: uuidv7(now),
        sourceAccountId: base.sourceAccountId,
        jobId: base.id,
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

  return {
    queues,
    run() {
      for (const worker of workers.values()) {
        if (!worker.isRunning()) void worker.run().catch((error: unknown) => logger.error({ err: error }, 'worker stopped'));
      }
    },
    cancel(queue, bullmqId, reason) {
      const worker = workers.get(queue);
      if (!worker) return false;
      if (worker.cancelJob(bullmqId, reason)) return true;
      pendingCancels.set(`${queue}\u0000${bullmqId}`, { reason, at: Date.now() });
      if (pendingCancels.size > 10_000) pendingCancels.delete(pendingCancels.keys().next().value!);
      return false;
    },
    releaseAll() {
      for (const worker of workers.values()) worker.cancelAllJobs(SHUTDOWN_REASON);
    },
    isRunning: () => [...workers.values()].every((w) => w.isRunning()),
    async close() {
      await Promise.all([...workers.values()].map((w) => w.close()));
      await recorder.flush();
    },
  };
}
