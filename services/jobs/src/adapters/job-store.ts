import type { PrismaClient } from '@nself/db';
import type { JobStatus } from '../contracts.js';

/** What the mirror knows about a job when it first sees it (enough to create the row from any event). */
export interface JobRowBase {
  id: string;
  sourceAccountId: string;
  queue: string;
  bullmqId: string;
  type: string;
  priority: number;
  payload: unknown;
  maxAttempts: number;
  delayMs: number;
  timeoutMs: number | null;
  scheduleId: string | null;
  createdBy: string | null;
  requestId: string | null;
  createdAt: Date;
}

export interface CreatedRow extends JobRowBase {
  status: JobStatus;
}

export interface TransitionRow extends JobRowBase {
  status: JobStatus;
  attemptsMade: number;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface ResultRow {
  id: string;
  sourceAccountId: string;
  jobId: string;
  result: unknown;
  durationMs: number | null;
  createdAt: Date;
}

export interface FailureRow {
  id: string;
  sourceAccountId: string;
  jobId: string;
  attempt: number;
  error: string;
  errorName: string | null;
  isFinal: boolean;
  failedAt: Date;
}

export interface ScheduleRunRow {
  scheduleId: string;
  lastRunAt: Date;
  nextRunAt: Date | null;
}

export interface LifecycleBatch {
  creates: CreatedRow[];
  transitions: TransitionRow[];
  results: ResultRow[];
  failures: FailureRow[];
  scheduleRuns: ScheduleRunRow[];
}

const json = (value: unknown) => JSON.stringify(value === undefined ? null : value);

const BASE_COLUMNS = `id, source_account_id, queue, bullmq_id, type, status, priority, payload, max_attempts, delay_ms,
  timeout_ms, schedule_id, created_by, request_id, created_at`;
const BASE_TYPES = `$1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::jsonb[],
  $9::int[], $10::int[], $11::int[], $12::uuid[], $13::text[], $14::text[], $15::timestamptz[]`;

function baseArrays(rows: (JobRowBase & { status: string })[]): unknown[] {
  return [
    rows.map((r) => r.id),
    rows.map((r) => r.sourceAccountId),
    rows.map((r) => r.queue),
    rows.map((r) => r.bullmqId),
    rows.map((r) => r.type),
    rows.map((r) => r.status),
    rows.map((r) => r.priority),
    rows.map((r) => json(r.payload)),
    rows.map((r) => r.maxAttempts),
    rows.map((r) => r.delayMs),
    rows.map((r) => r.timeoutMs),
    rows.map((r) => r.scheduleId),
    rows.map((r) => r.createdBy),
    rows.map((r) => r.requestId),
    rows.map((r) => r.createdAt),
  ];
}

// A schedule deleted meanwhile must not fail the batch on the foreign key: its jobs keep a NULL link.
const SCHEDULE_REF = '(SELECT s.id FROM job_schedules s WHERE s.id = n.schedule_id)';

/**
 * Writes one batch of lifecycle events in a single transaction with a handful of set-based statements
 * (unnest arrays; a fixed number of parameters whatever the batch size). Rows are upserted on
 * (queue, bullmq_id): whichever event reaches Postgres first creates the row.
 */
export async function writeLifecycleBatch(prisma: PrismaClient, batch: LifecycleBatch): Promise<void> {
  const statements = [];
  if (batch.creates.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO jobs (${BASE_COLUMNS}, updated_at)
         SELECT n.id, n.source_account_id, n.queue, n.bullmq_id, n.type, n.status, n.priority, n.payload, n.max_attempts,
                n.delay_ms, n.timeout_ms, ${SCHEDULE_REF}, n.created_by, n.request_id, n.created_at, now()
         FROM unnest(${BASE_TYPES}) AS n(${BASE_COLUMNS})
         ON CONFLICT (queue, bullmq_id) DO NOTHING`,
        ...baseArrays(batch.creates),
      ),
    );
  }
  if (batch.transitions.length) {
    const rows = batch.transitions;
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO jobs (${BASE_COLUMNS}, attempts_made, started_at, finished_at, updated_at)
         SELECT n.id, n.source_account_id, n.queue, n.bullmq_id, n.type, n.status, n.priority, n.payload, n.max_attempts,
                n.delay_ms, n.timeout_ms, ${SCHEDULE_REF}, n.created_by, n.request_id, n.created_at,
                n.attempts_made, n.started_at, n.finished_at, now()
         FROM unnest(${BASE_TYPES}, $16::int[], $17::timestamptz[], $18::timestamptz[])
           AS n(${BASE_COLUMNS}, attempts_made, started_at, finished_at)
         ON CONFLICT (queue, bullmq_id) DO UPDATE SET
           status = EXCLUDED.status,
           attempts_made = EXCLUDED.attempts_made,
           started_at = COALESCE(EXCLUDED.started_at, jobs.started_at),
           finished_at = EXCLUDED.finished_at,
           updated_at = now()`,
        ...baseArrays(rows),
        rows.map((r) => r.attemptsMade),
        rows.map((r) => r.startedAt),
        rows.map((r) => r.finishedAt),
      ),
    );
  }
  if (batch.results.length) {
    const rows = batch.results;
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO job_results (id, source_account_id, job_id, result, duration_ms, created_at)
         SELECT n.id, n.source_account_id, n.job_id, n.result, n.duration_ms, n.created_at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::jsonb[], $5::int[], $6::timestamptz[])
           AS n(id, source_account_id, job_id, result, duration_ms, created_at)
         WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = n.job_id)
         ON CONFLICT (job_id) DO UPDATE SET result = EXCLUDED.result, duration_ms = EXCLUDED.duration_ms,
           created_at = EXCLUDED.created_at`,
        rows.map((r) => r.id),
        rows.map((r) => r.sourceAccountId),
        rows.map((r) => r.jobId),
        rows.map((r) => json(r.result)),
        rows.map((r) => r.durationMs),
        rows.map((r) => r.createdAt),
      ),
    );
  }
  if (batch.failures.length) {
    const rows = batch.failures;
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO job_failures (id, source_account_id, job_id, attempt, error, error_name, is_final, failed_at)
         SELECT n.id, n.source_account_id, n.job_id, n.attempt, n.error, n.error_name, n.is_final, n.failed_at
         FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::int[], $5::text[], $6::text[], $7::boolean[], $8::timestamptz[])
           AS n(id, source_account_id, job_id, attempt, error, error_name, is_final, failed_at)
         WHERE EXISTS (SELECT 1 FROM jobs j WHERE j.id = n.job_id)
         ON CONFLICT (job_id, attempt) DO NOTHING`,
        rows.map((r) => r.id),
        rows.map((r) => r.sourceAccountId),
        rows.map((r) => r.jobId),
        rows.map((r) => r.attempt),
        rows.map((r) => r.error),
        rows.map((r) => r.errorName),
        rows.map((r) => r.isFinal),
        rows.map((r) => r.failedAt),
      ),
    );
  }
  if (batch.scheduleRuns.length) {
    const rows = batch.scheduleRuns;
    statements.push(
      prisma.$executeRawUnsafe(
        `UPDATE job_schedules s SET
           last_run_at = GREATEST(COALESCE(s.last_run_at, n.last_run_at), n.last_run_at),
           next_run_at = n.next_run_at,
           updated_at = now()
         FROM unnest($1::uuid[], $2::timestamptz[], $3::timestamptz[]) AS n(id, last_run_at, next_run_at)
         WHERE s.id = n.id`,
        rows.map((r) => r.scheduleId),
        rows.map((r) => r.lastRunAt),
        rows.map((r) => r.nextRunAt),
      ),
    );
  }
  if (statements.length === 1) await statements[0];
  else if (statements.length) await prisma.$transaction(statements);
}
