import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import { JOB_STATUSES, JOB_TYPE_NAME } from '../contracts.js';
import { isUuid } from '../ids.js';
import type { ApiDeps } from './deps.js';
import { liveState, viewFromRow, type JobView } from './job-view.js';
import { jobScope } from './permissions.js';

/** Loads a job of the caller's app (and, for non-admins, of the caller); 404 otherwise. */
export async function loadJobRow(deps: ApiDeps, principal: Principal, id: string) {
  if (!isUuid(id)) throw Errors.notFound('Job', 'JOB_NOT_FOUND');
  const row = await deps.repo.findJob(jobScope(principal), id);
  if (!row) throw Errors.notFound('Job', 'JOB_NOT_FOUND');
  return row;
}

/** One job with its result and every failed attempt; the status is BullMQ's live state when it has the job. */
export async function getJob(deps: ApiDeps, principal: Principal, id: string): Promise<JobView> {
  const row = await loadJobRow(deps, principal, id);
  const view = viewFromRow(row);
  if (row.status !== 'cancelled' && deps.queues.has(row.queue)) {
    const live = await liveState(deps.queues.get(row.queue), row.bullmqId).catch(() => undefined);
    if (live) {
      view.status = live.state;
      view.attemptsMade = live.job.attemptsMade;
      if (live.job.processedOn && !view.startedAt) view.startedAt = new Date(live.job.processedOn).toISOString();
    }
  }
  return view;
}

export const listJobsInput = z
  .object({
    queue: z.string().min(1).max(64).optional(),
    status: z.enum(JOB_STATUSES).optional(),
    type: z.string().regex(JOB_TYPE_NAME).optional(),
    scheduleId: z.uuid().optional(),
    limit: z.coerce.number().int().min(1).max(200).default(50),
    cursor: z.uuid().optional(),
  })
  .strict();

/** The caller's jobs, newest first, filtered by queue / status / type, paginated with a cursor. */
export async function listJobs(deps: ApiDeps, principal: Principal, query: unknown): Promise<{ items: JobView[]; nextCursor: string | null }> {
  const filter = parseInput(listJobsInput, query);
  const rows = await deps.repo.listJobs(jobScope(principal), { ...filter, limit: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  return {
    items: page.map((row) => viewFromRow(row)),
    nextCursor: rows.length > filter.limit ? page[page.length - 1]!.id : null,
  };
}
