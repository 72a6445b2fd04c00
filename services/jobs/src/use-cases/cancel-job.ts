import type { Principal } from '@nself/auth';
import { Errors } from '@nself/errors';
import { publishCancel } from '../adapters/cancel-channel.js';
import { isCancellation } from '../job-errors.js';
import type { ApiDeps } from './deps.js';
import { queueUnavailable } from './add-job.js';
import { getJob, loadJobRow } from './query-jobs.js';
import { liveState, type JobView } from './job-view.js';

const FINISHED = new Set(['completed', 'failed', 'cancelled']);

/**
 * Cancels a job. Waiting, delayed and prioritized jobs are removed from the queue at once; a running job
 * is aborted in whichever worker process runs it (Redis cancel channel → Worker.cancelJob → the
 * processor's signal) and fails as "cancelled" without retries. Finished jobs answer 409.
 */
export async function cancelJob(
  deps: ApiDeps,
  principal: Principal,
  id: string,
  waitMs = 5000,
): Promise<{ job: JobView; done: boolean }> {
  const row = await loadJobRow(deps, principal, id);
  if (FINISHED.has(row.status) && row.status !== 'failed') {
    throw Errors.conflict('JOB_FINISHED', `The job is already ${row.status}`);
  }
  const queue = deps.queues.get(row.queue);
  let live;
  try {
    live = await liveState(queue, row.bullmqId);
  } catch (error) {
    throw queueUnavailable(deps, error);
  }
  if (!live) {
    if (FINISHED.has(row.status)) throw Errors.conflict('JOB_FINISHED', `The job is already ${row.status}`);
    // Gone from Redis without a final state (removed by hand): record the cancellation.
    await deps.repo.setStatus(row.id, 'cancelled', true);
    return { job: await getJob(deps, principal, id), done: true };
  }
  if (live.state === 'completed' || live.state === 'failed') {
    throw Errors.conflict('JOB_FINISHED', `The job is already ${live.state}`);
  }
  if (live.state !== 'active') {
    try {
      await live.job.remove();
      await deps.repo.setStatus(row.id, 'cancelled', true);
      return { job: await getJob(deps, principal, id), done: true };
    } catch {
      // It started meanwhile (a locked job cannot be removed): cancel it as a running job.
    }
  }
  const request = { queue: row.queue, bullmqId: row.bullmqId, reason: `cancelled by ${principal.userId ?? principal.via}` };
  const publish = () =>
    publishCancel(deps.redis, deps.config.bullPrefix, request).catch((error: unknown) => {
      throw queueUnavailable(deps, error);
    });
  await publish();
  const deadline = Date.now() + waitMs;
  let lastPublish = Date.now();
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    // Repeated while waiting (idempotent): a worker that had not started the processor yet sees it.
    if (Date.now() - lastPublish > 500) {
      lastPublish = Date.now();
      await publish();
    }
    const now = await queue.getJob(row.bullmqId);
    const state = now ? await now.getState() : 'unknown';
    if (state === 'failed' && now && isCancellation({ message: now.failedReason })) {
      await deps.repo.setStatus(row.id, 'cancelled', true, now.attemptsMade);
      return { job: await getJob(deps, principal, id), done: true };
    }
    if (state === 'completed' || state === 'failed') {
      throw Errors.conflict('JOB_FINISHED', `The job finished (${state}) before it could be cancelled`);
    }
  }
  return { job: await getJob(deps, principal, id), done: false };
}
