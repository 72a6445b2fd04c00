import { runWithRequestId } from '@nself/logging';
import { UnrecoverableError, type JobWorker, type ProcessJob, type ProcessJobProgress } from './adapters/queue.js';
import type { PipelineDeps } from './use-cases/deps.js';
import { processFile } from './use-cases/process-file.js';

/** Runs one BullMQ job through the pipeline; retryable failures throw (BullMQ backs off and retries). */
export async function runJob(deps: PipelineDeps, job: ProcessJob): Promise<unknown> {
  const progress = (typeof job.progress === 'object' && job.progress ? job.progress : {}) as ProcessJobProgress;
  const outcome = await runWithRequestId(job.data.requestId ?? job.data.jobId, () =>
    processFile(deps, {
      jobId: job.data.jobId,
      attempt: job.attemptsMade + 1,
      maxAttempts: job.opts.attempts ?? 1,
      alreadyPublished: Boolean(progress.published),
      markPublished: () => job.updateProgress({ published: true } satisfies ProcessJobProgress),
    }),
  );
  if (outcome.outcome === 'retry') throw new Error(`${outcome.code}: ${outcome.error}`);
  if (outcome.outcome === 'failed') throw new UnrecoverableError(`${outcome.code}: ${outcome.error}`);
  return outcome;
}

/**
 * A job that failed for good without the pipeline recording it — stalled too often (its workers kept
 * dying) or an error outside the pipeline's own handling — is recorded in the database too, so the job
 * and file do not stay "running" forever. Failures the pipeline recorded itself are no-ops here.
 */
export function recordFinalFailures(worker: JobWorker, deps: PipelineDeps): void {
  worker.worker.on('failed', (job, error) => {
    if (!job) return;
    const final = /stalled/i.test(error.message) || error.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    void (async () => {
      const row = await deps.repo.getJob(job.data.jobId);
      if (!row) return;
      const message = error.message.slice(0, 500);
      if (await deps.repo.failJobAndFile(row.id, Math.max(1, job.attemptsMade), 'INTERNAL_ERROR', message)) {
        const file = await deps.repo.getFile(row.fileId);
        if (file) {
          await deps.events.publish(
            'file.failed',
            { fileId: file.id, jobId: row.id, code: 'INTERNAL_ERROR', error: message },
            { sourceAccountId: file.sourceAccountId, userId: file.ownerId },
          );
        }
      }
    })().catch((err) => deps.logger.error({ err }, 'could not record a failed job'));
  });
}
