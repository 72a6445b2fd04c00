import type { Principal } from '@nself/auth';
import { Errors } from '@nself/errors';
import type { ApiDeps } from './deps.js';
import { addJob, queueUnavailable } from './add-job.js';
import { liveState, type JobView } from './job-view.js';
import { getJob, loadJobRow } from './query-jobs.js';

/**
 * Retries a failed (or cancelled) job with a fresh attempt budget. While BullMQ still holds the job it is
 * moved back to wait under the same id; once retention removed it, a copy is enqueued as a new job.
 */
export async function retryJob(
  deps: ApiDeps,
  principal: Principal,
  id: string,
  requestId?: string,
): Promise<{ job: JobView; retryOf?: string }> {
  const row = await loadJobRow(deps, principal, id);
  const queue = deps.queues.get(row.queue);
  let live;
  try {
    live = await liveState(queue, row.bullmqId);
  } catch (error) {
    throw queueUnavailable(deps, error);
  }
  if (live) {
    if (live.state !== 'failed') {
      throw Errors.conflict('JOB_NOT_RETRYABLE', `Only failed or cancelled jobs can be retried; this one is ${live.state}`);
    }
    const previous = row.status;
    // The mirror row goes back to waiting first, so the worker's "active" that follows is not overwritten.
    await deps.repo.setStatus(row.id, row.priority ? 'prioritized' : 'waiting', false, 0);
    try {
      await live.job.retry('failed', { resetAttemptsMade: true });
    } catch (error) {
      await deps.repo.setStatus(row.id, previous as never, true).catch(() => undefined);
      throw Errors.conflict('JOB_NOT_RETRYABLE', `The job could not be retried: ${(error as Error).message}`);
    }
    return { job: await getJob(deps, principal, id) };
  }
  if (row.status !== 'failed' && row.status !== 'cancelled') {
    throw Errors.conflict('JOB_NOT_RETRYABLE', `Only failed or cancelled jobs can be retried; this one is ${row.status}`);
  }
  const { job } = await addJob(
    deps,
    principal,
    {
      type: row.type,
      payload: row.payload,
      queue: row.queue,
      ...(row.priority ? { priority: row.priority } : {}),
      attempts: row.maxAttempts,
      ...(row.timeoutMs ? { timeout: row.timeoutMs } : {}),
    },
    requestId,
  );
  return { job, retryOf: row.id };
}
