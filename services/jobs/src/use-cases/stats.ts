import type { Principal } from '@nself/auth';
import type { QueueRegistry } from '../adapters/queues.js';
import type { JobsRepository } from '../adapters/jobs-repository.js';
import type { ApiDeps } from './deps.js';
import { isOperator, requireAdmin } from './permissions.js';

const LIVE_STATES = ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'] as const;

/** Live BullMQ counts of every queue (all apps together: operator view). */
export async function queueCounts(queues: QueueRegistry): Promise<Record<string, Record<string, number>>> {
  const entries = await Promise.all(
    queues.all().map(async (queue) => [queue.name, await queue.getJobCounts(...LIVE_STATES)] as const),
  );
  return Object.fromEntries(entries);
}

/** The app's jobs per queue and status (from the mirror) and failed attempts in the last hour. */
export async function appStats(repo: JobsRepository, sourceAccountId: string) {
  const rows = await repo.countByStatus(sourceAccountId);
  const byQueue: Record<string, Record<string, number>> = {};
  const totals: Record<string, number> = {};
  for (const { queue, status, count } of rows) {
    (byQueue[queue] ??= {})[status] = count;
    totals[status] = (totals[status] ?? 0) + count;
  }
  const failuresLastHour = await repo.failuresSince(sourceAccountId, new Date(Date.now() - 3600_000));
  return { queues: byQueue, totals, failuresLastHour };
}

/** GET /v1/stats (admin): the app's figures; operators also get live counts of every queue. */
export async function getStats(deps: ApiDeps, principal: Principal) {
  requireAdmin(principal);
  const app = await appStats(deps.repo, principal.sourceAccountId);
  return {
    sourceAccountId: principal.sourceAccountId,
    ...app,
    ...(isOperator(principal, deps.config) ? { live: await queueCounts(deps.queues).catch(() => null) } : {}),
  };
}
