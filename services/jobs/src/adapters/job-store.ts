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

const ms = (d: Date | null | undefined) => (d ? d.getTime() : null);

/** Short keys keep the JSON of a 1,000-row batch small; each statement names them in its recordset. */
function baseRecord(r: JobRowBase & { status: string }) {
  return {
    i: r.id,
    a: r.sourceAccountId,
    q: r.queue,
    b: r.bullmqId,
    t: r.type,
    s: r.status,
    p: r.priority,
    y: r.payload === undefined ? null : r.payload,
    m: r.maxAttempts,
    d: r.delayMs,
    o: r.timeoutMs,
    h: r.scheduleId,
    c: r.createdBy,
    r: r.requestId,
    ca: r.createdAt.getTime(),
  };
}

const BASE_RECORDSET = `i uuid, a text, q text, b text, t text, s text, p int, y jsonb, m int, d int, o int, h uuid, c text,
  r text, ca float8`;
const BASE_COLUMNS = `id, source_account_id, queue, bullmq_id, type, status, priority, payload, max_attempts, delay_ms,
  timeout_ms, schedule_id, created_by, request_id, created_at`;
// A schedule deleted meanwhile must not fail the batch on the foreign key: its jobs keep a NULL link.
const BASE_VALUES = `n.i, n.a, n.q, n.b, n.t, n.s, n.p, COALESCE(n.y, '{}'::jsonb), n.m, n.d, n.o,
  (SELECT s.id FROM job_schedules s WHERE s.id = n.h), n.c, n.r, to_timestamp(n.ca / 1000.0)`;
const ts = (column: string) => `to_timestamp(${column} / 1000.0)`;

/**
 * Writes one batch of lifecycle events in a single transaction with a few set-based statements. Each
 * statement gets its rows as one JSON parameter (json_to_recordset): a single JSON.stringify on our side
 * and one parameter whatever the batch size. Rows are upserted on (queue, bullmq_id): whichever event
 * reaches Postgres first creates the row.
 */
export async function writeLifecycleBatch(prisma: PrismaClient, batch: LifecycleBatch): Promise<void> {
  const statements = [];
  if (batch.creates.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO jobs (${BASE_COLUMNS}, updated_at)
         SELECT ${BASE_VALUES}, now()
         FROM json_to_recordset($1::json) AS n(${BASE_RECORDSET})
         ON CONFLICT (queue, bullmq_id) DO NOTHING`,
        JSON.stringify(batch.creates.map(baseRecord)),
      ),
    );
  }
  if (batch.transitions.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO jobs (${BASE_COLUMNS}, attempts_made, started_at, finished_at, updated_at)
         SELECT ${BASE_VALUES}, n.am, ${ts('n.sa')}, ${ts('n.fa')}, now()
         FROM json_to_recordset($1::json) AS n(${BASE_RECORDSET}, am int, sa float8, fa float8)
         ON CONFLICT (queue, bullmq_id) DO UPDATE SET
           status = EXCLUDED.status,
           attempts_made = EXCLUDED.attempts_made,
           started_at = COALESCE(EXCLUDED.started_at, jobs.started_at),
           finished_at = EXCLUDED.finished_at,
           updated_at = now()`,
        JSON.stringify(
          batch.transitions.map((r) => ({ ...baseRecord(r), am: r.attemptsMade, sa: ms(r.startedAt), fa: ms(r.finishedAt) })),
        ),
      ),
    );
  }
  if (batch.results.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO job_results (id, source_account_id, job_id, result, duration_ms, created_at)
         SELECT n.i, n.a, n.j, n.v, n.d, ${ts('n.ca')}
         FROM json_to_recordset($1::json) AS n(i uuid, a text, j uuid, v jsonb, d int, ca float8)
         WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = n.j)
         ON CONFLICT (job_id) DO UPDATE SET result = EXCLUDED.result, duration_ms = EXCLUDED.duration_ms,
           created_at = EXCLUDED.created_at`,
        JSON.stringify(
          batch.results.map((r) => ({
            i: r.id,
            a: r.sourceAccountId,
            j: r.jobId,
            v: r.result === undefined ? null : r.result,
            d: r.durationMs,
            ca: r.createdAt.getTime(),
          })),
        ),
      ),
    );
  }
  if (batch.failures.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `INSERT INTO job_failures (id, source_account_id, job_id, attempt, error, error_name, is_final, failed_at)
         SELECT n.i, n.a, n.j, n.n, n.e, n.en, n.f, ${ts('n.fa')}
         FROM json_to_recordset($1::json) AS n(i uuid, a text, j uuid, n int, e text, en text, f boolean, fa float8)
         WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = n.j)
         ON CONFLICT (job_id, attempt) DO NOTHING`,
        JSON.stringify(
          batch.failures.map((r) => ({
            i: r.id,
            a: r.sourceAccountId,
            j: r.jobId,
            n: r.attempt,
            e: r.error,
            en: r.errorName,
            f: r.isFinal,
            fa: r.failedAt.getTime(),
          })),
        ),
      ),
    );
  }
  if (batch.scheduleRuns.length) {
    statements.push(
      prisma.$executeRawUnsafe(
        `UPDATE job_schedules s SET
           last_run_at = GREATEST(COALESCE(s.last_run_at, ${ts('n.l')}), ${ts('n.l')}),
           next_run_at = ${ts('n.x')},
           updated_at = now()
         FROM json_to_recordset($1::json) AS n(i uuid, l float8, x float8)
         WHERE s.id = n.i`,
        JSON.stringify(batch.scheduleRuns.map((r) => ({ i: r.scheduleId, l: r.lastRunAt.getTime(), x: ms(r.nextRunAt) }))),
      ),
    );
  }
  if (statements.length === 1) await statements[0];
  else if (statements.length) await prisma.$transaction(statements);
}
