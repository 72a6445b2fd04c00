import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '@nself/logging';
import type { JobEnvelope } from './contracts.js';
import { derivedJobId } from './ids.js';
import { JobCancelledError, JobTimeoutError, PermanentJobError, SHUTDOWN_REASON, WorkerShutdownError } from './job-errors.js';
import type { HandlerRegistry } from './job-types/registry.js';

export type JobsJob = Job<JobEnvelope, unknown, string>;

/** jobs.id of a BullMQ job: ours from its meta, or derived (scheduler-created jobs). */
export function jobRowId(queue: string, job: JobsJob): string {
  return job.data?.meta?.id ?? derivedJobId(queue, job.id!, job.timestamp);
}

/**
 * The BullMQ processor of every queue: resolves the type's handler, validates the payload and runs it
 * under the attempt's timeout. BullMQ has no timeout of its own, so the attempt races an AbortSignal that
 * fires after timeoutMs (failing the attempt even if a handler ignores the signal) and that also fires on
 * cancellation (Worker.cancelJob, reached through the API's cancel channel).
 */
export function createProcessor(deps: {
  registry: HandlerRegistry;
  logger: Logger;
  defaultTimeoutMs: number;
  queue: string;
  /** Cancel requests that arrived before the job was running here (consumed once). */
  takePendingCancel?: (bullmqId: string) => string | undefined;
}) {
  return async function process(job: JobsJob, token?: string, bullSignal?: AbortSignal): Promise<unknown> {
    const meta = job.data?.meta;
    if (!meta || typeof meta.sourceAccountId !== 'string') {
      throw new PermanentJobError('INVALID_JOB', 'the job carries no metadata; add jobs through the jobs API');
    }
    const timeoutMs = meta.timeoutMs > 0 ? meta.timeoutMs : deps.defaultTimeoutMs;
    const controller = new AbortController();
    const onCancel = () =>
      controller.abort(
        bullSignal?.reason === SHUTDOWN_REASON
          ? new WorkerShutdownError()
          : new JobCancelledError(String(bullSignal?.reason ?? 'cancelled')),
      );
    if (bullSignal?.aborted) onCancel();
    const early = deps.takePendingCancel?.(job.id!);
    if (early) controller.abort(new JobCancelledError(early));
    bullSignal?.addEventListener('abort', onCancel, { once: true });
    const timer = setTimeout(() => controller.abort(new JobTimeoutError(timeoutMs)), timeoutMs);
    try {
      const handler = await deps.registry.resolve(job.name, meta.sourceAccountId);
      if (!handler) throw new PermanentJobError('UNKNOWN_JOB_TYPE', `no handler for type "${job.name}"`);
      const payload = handler.parse(job.data.payload);
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      const run = handler.run(payload, {
        jobId: jobRowId(deps.queue, job),
        bullmqId: job.id!,
        queue: deps.queue,
        type: job.name,
        attempt: job.attemptsMade + 1,
        meta,
        signal: controller.signal,
        logger: deps.logger,
      });
      const aborted = new Promise<never>((_, reject) => {
        controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true });
      });
      // The handler may keep running after an abort it ignores; its outcome is then discarded.
      run.catch(() => undefined);
      aborted.catch(() => undefined);
      return await Promise.race([run, aborted]);
    } catch (error) {
      if (error instanceof WorkerShutdownError && token) {
        // Back to the queue at once, without using up an attempt: another worker (or this one after
        // its restart) runs it again.
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      throw error;
    } finally {
      clearTimeout(timer);
      bullSignal?.removeEventListener('abort', onCancel);
    }
  };
}
