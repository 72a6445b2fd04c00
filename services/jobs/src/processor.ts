import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '@nself/logging';
import { AttemptTracker, type Attempt } from './attempts.js';
import type { JobEnvelope } from './contracts.js';
import { derivedJobId } from './ids.js';
import { JobCancelledError, PermanentJobError, WorkerShutdownError } from './job-errors.js';
import type { HandlerRegistry } from './job-types/registry.js';
import type { JobContext, JobHandler } from './job-types/types.js';

export type JobsJob = Job<JobEnvelope, unknown, string>;

/** jobs.id of a BullMQ job: ours from its meta, or derived (scheduler-created jobs). */
export function jobRowId(queue: string, job: JobsJob): string {
  return job.data?.meta?.id ?? derivedJobId(queue, job.id!, job.timestamp);
}

/**
 * The BullMQ processor of every queue: resolves the type's handler, validates the payload and runs it
 * under the attempt's timeout. BullMQ has no timeout of its own: each attempt is registered with the
 * worker's AttemptTracker, which fails it at its deadline (even if the handler ignores its abort signal,
 * whose outcome is then discarded) and on cancellation or shutdown. The handler's AbortSignal is only
 * created if the handler asks for it, so a fast job costs no timer and no controller.
 */
export function createProcessor(deps: {
  registry: HandlerRegistry;
  logger: Logger;
  defaultTimeoutMs: number;
  queue: string;
  tracker: AttemptTracker;
  /** Cancel requests that arrived before the job was running here (consumed once). */
  takePendingCancel?: (bullmqId: string) => string | undefined;
  /** Called as an attempt starts (metrics, schedule bookkeeping); returns the encoder of its "active" row. */
  onStart?: (job: JobsJob, startedAt: number) => (() => string) | undefined;
}) {
  const { tracker, queue, logger } = deps;
  return async function process(job: JobsJob, token?: string): Promise<unknown> {
    const meta = job.data?.meta;
    if (!meta || typeof meta.sourceAccountId !== 'string') {
      throw new PermanentJobError('INVALID_JOB', 'the job carries no metadata; add jobs through the jobs API');
    }
    const bullmqId = job.id!;
    const timeoutMs = meta.timeoutMs > 0 ? meta.timeoutMs : deps.defaultTimeoutMs;
    let controller: AbortController | undefined;
    let failure: Error | undefined;
    let reject: ((error: Error) => void) | undefined;
    const attempt: Attempt = {
      timeoutMs,
      deadline: Date.now() + timeoutMs,
      fail(error) {
        if (failure) return;
        failure = error;
        controller?.abort(error);
        reject?.(error);
      },
    };
    attempt.encodeActive = deps.onStart?.(job, job.processedOn ?? Date.now());
    tracker.start(bullmqId, attempt);
    try {
      const early = deps.takePendingCancel?.(bullmqId);
      if (early) attempt.fail(new JobCancelledError(early));
      const resolved = deps.registry.resolve(job.name, meta.sourceAccountId);
      const handler: JobHandler | null = resolved instanceof Promise ? await resolved : resolved;
      if (!handler) throw new PermanentJobError('UNKNOWN_JOB_TYPE', `no handler for type "${job.name}"`);
      const payload = handler.parse(job.data.payload);
      if (failure) throw failure;
      const ctx: JobContext = {
        jobId: jobRowId(queue, job),
        bullmqId,
        queue,
        type: job.name,
        attempt: job.attemptsMade + 1,
        meta,
        logger,
        get signal() {
          if (!controller) {
            controller = new AbortController();
            if (failure) controller.abort(failure);
          }
          return controller.signal;
        },
      };
      // Settles with the handler, or earlier when the attempt is failed (timeout, cancel, shutdown);
      // a handler that ignores its signal keeps running, but its outcome is then discarded.
      return await new Promise<unknown>((resolve, rejectAttempt) => {
        reject = rejectAttempt;
        handler.run(payload, ctx).then(resolve, rejectAttempt);
      });
    } catch (error) {
      if (error instanceof WorkerShutdownError && token) {
        // Back to the queue at once, without using up an attempt: another worker (or this one after
        // its restart) runs it again.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      throw error;
    } finally {
      tracker.end(bullmqId, attempt);
    }
  };
}
