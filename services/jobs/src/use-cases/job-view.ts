import type { JobFailureModel as JobFailure, JobModel as JobRow, JobResultModel as JobResult } from '@nself/db';
import type { JobRowBase } from '../adapters/job-store.js';
import type { JobsQueue } from '../adapters/queues.js';
import type { JobStatus } from '../contracts.js';

export interface JobView {
  id: string;
  queue: string;
  type: string;
  status: JobStatus;
  priority: number;
  payload: unknown;
  attemptsMade: number;
  maxAttempts: number;
  delayMs: number;
  timeoutMs: number | null;
  scheduleId: string | null;
  createdBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  result?: unknown;
  durationMs?: number | null;
  failures?: { attempt: number; error: string; errorName: string | null; isFinal: boolean; failedAt: string }[];
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

export function viewFromRow(
  row: (JobRow & { result?: JobResult | null; failures?: JobFailure[] }) | (JobRowBase & { status: string; attemptsMade?: number }),
): JobView {
  const r = row as JobRow & { result?: JobResult | null; failures?: JobFailure[] };
  const view: JobView = {
    id: r.id,
    queue: r.queue,
    type: r.type,
    status: r.status as JobStatus,
    priority: r.priority,
    payload: r.payload,
    attemptsMade: r.attemptsMade ?? 0,
    maxAttempts: r.maxAttempts,
    delayMs: r.delayMs,
    timeoutMs: r.timeoutMs ?? null,
    scheduleId: r.scheduleId ?? null,
    createdBy: r.createdBy ?? null,
    createdAt: r.createdAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
  };
  if ('result' in r) {
    view.result = r.result?.result ?? null;
    view.durationMs = r.result?.durationMs ?? null;
  }
  if (r.failures) {
    view.failures = r.failures.map((f) => ({
      attempt: f.attempt,
      error: f.error,
      errorName: f.errorName,
      isFinal: f.isFinal,
      failedAt: f.failedAt.toISOString(),
    }));
  }
  return view;
}

const LIVE: Record<string, JobStatus | undefined> = {
  waiting: 'waiting',
  'waiting-children': 'waiting',
  prioritized: 'prioritized',
  delayed: 'delayed',
  active: 'active',
  completed: 'completed',
  failed: 'failed',
};

/** BullMQ's current state of a job (the mirror lags by up to JOBS_MIRROR_FLUSH_MS); undefined if gone. */
export async function liveState(queue: JobsQueue, bullmqId: string) {
  const job = await queue.getJob(bullmqId);
  if (!job) return undefined;
  const state = LIVE[await job.getState()];
  return state ? { job, state } : undefined;
}
