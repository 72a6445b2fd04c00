import { runWithRequestId } from '@nself/logging';
import { UnrecoverableError, type ProcessJob, type ProcessJobProgress } from './adapters/queue.js';
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
