import type pg from 'pg';
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
  /** The job, by its natural key (the row's id is looked up in the statement). */
  queue: string;
  bullmqId: string;
  result: unknown;
  durationMs: number | null;
  createdAt: Date;
}

export interface FailureRow {
  id: string;
  sourceAccountId: string;
  queue: string;
  bullmqId: string;
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

/** A batch of lifecycle rows, each already encoded as the JSON its statement reads (see encode*). */
export interface LifecycleBatch {
  creates: string[];
  transitions: string[];
  results: string[];
  failures: string[];
  scheduleRuns: string[];
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
// An id already taken by another job (job data copied by hand into a new BullMQ job) falls back to
// an id derived from (queue, bullmq_id) instead of failing the batch on the primary key.
const BASE_VALUES = `CASE WHEN EXISTS (SELECT 1 FROM jobs x WHERE x.id = n.i) THEN md5(n.q || '/' || n.b)::uuid ELSE n.i END, n.a, n.q, n.b, n.t, n.s, n.p, COALESCE(n.y, '{}'::jsonb), n.m, n.d, n.o,
  (SELECT s.id FROM job_schedules s WHERE s.id = n.h), n.c, n.r, to_timestamp(n.ca / 1000.0)`;
const ts = (column: string) => `to_timestamp(${column} / 1000.0)`;

/*
 * Rows are encoded to JSON when they are recorded: a buffered row is one short string (cheap to keep
 * for a flush interval, nothing for the garbage collector to trace) and a batch is just a join.
 */
export const encodeCreate = (r: CreatedRow): string => JSON.stringify(baseRecord(r));

export const encodeTransition = (r: TransitionRow): string =>
  JSON.stringify({ ...baseRecord(r), am: r.attemptsMade, sa: ms(r.startedAt), fa: ms(r.finishedAt) });

/** The fields of a BullMQ job the mirror reads (structural, so this module does not depend on BullMQ). */
export interface MirroredJob {
  id?: string;
  name: string;
  timestamp: number;
  attemptsMade: number;
  opts: { priority?: number; attempts?: number; delay?: number };
  data?: {
    payload?: unknown;
    meta?: {
      id?: string;
      sourceAccountId?: string;
      createdBy?: string | null;
      requestId?: string | null;
      scheduleId?: string;
      timeoutMs?: number;
    };
  };
}

/**
 * A string built by concatenation is a tree of pieces (V8 cons strings): kept in the recorder's buffer
 * for a flush interval it holds ~4x its length in memory, survives young-generation collections and
 * is promoted, which made the worker's GC time per job several times a bare worker's. Slicing a string
 * flattens it into one sequential string first.
 */
const flat = (value: string): string => (' ' + value).slice(1);

const str = (value: string | null | undefined) => (value === null || value === undefined ? 'null' : JSON.stringify(value));
const num = (value: number | null | undefined) => (value === null || value === undefined || !Number.isFinite(value) ? 'null' : String(value));

/**
 * The transition record of a BullMQ job, encoded straight from the job (the worker's hot path: no
 * intermediate row objects). Same shape as encodeTransition.
 */
export function encodeJobTransition(
  id: string,
  queue: string,
  job: MirroredJob,
  status: string,
  startedAt: number | null,
  finishedAt: number | null,
): string {
  const meta = job.data?.meta;
  const payload = job.data?.payload;
  return flat(
    `{"i":${str(id)},"a":${str(meta?.sourceAccountId ?? 'primary')},"q":${str(queue)},"b":${str(job.id)},` +
    `"t":${str(job.name)},"s":"${status}","p":${num(job.opts.priority ?? 0)},` +
    `"y":${payload === undefined ? 'null' : JSON.stringify(payload)},"m":${num(job.opts.attempts ?? 1)},` +
    `"d":${num(job.opts.delay ?? 0)},"o":${num(meta?.timeoutMs)},"h":${str(meta?.scheduleId)},` +
    `"c":${str(meta?.createdBy)},"r":${str(meta?.requestId)},"ca":${num(job.timestamp)},` +
    `"am":${num(job.attemptsMade)},"sa":${num(startedAt)},"fa":${num(finishedAt)}}`,
  );
}

export const encodeResult = (r: ResultRow): string =>
  JSON.stringify({
    i: r.id,
    a: r.sourceAccountId,
    q: r.queue,
    b: r.bullmqId,
    v: r.result === undefined ? null : r.result,
    d: r.durationMs,
    ca: r.createdAt.getTime(),
  });

export const encodeFailure = (r: FailureRow): string =>
  JSON.stringify({
    i: r.id,
    a: r.sourceAccountId,
    q: r.queue,
    b: r.bullmqId,
    n: r.attempt,
    e: r.error,
    en: r.errorName,
    f: r.isFinal,
    fa: r.failedAt.getTime(),
  });

export const encodeScheduleRun = (r: ScheduleRunRow): string =>
  JSON.stringify({ i: r.scheduleId, l: r.lastRunAt.getTime(), x: ms(r.nextRunAt) });

const TRANSITION_RECORDSET = `${BASE_RECORDSET}, am int, sa float8, fa float8`;

const STATEMENTS = {
  creates: `INSERT INTO jobs (${BASE_COLUMNS}, updated_at)
    SELECT ${BASE_VALUES}, now()
    FROM json_to_recordset($1::json) AS n(${BASE_RECORDSET})
    ON CONFLICT (queue, bullmq_id) DO NOTHING`,
  // Update first (the usual case: the API created the row), insert what is missing (jobs created by a
  // scheduler or another producer), and settle a concurrent insert with ON CONFLICT.
  transitions: `WITH n AS (SELECT * FROM json_to_recordset($1::json) AS n(${TRANSITION_RECORDSET})),
    updated AS (
      UPDATE jobs j SET
        status = n.s,
        attempts_made = n.am,
        started_at = COALESCE(${ts('n.sa')}, j.started_at),
        finished_at = ${ts('n.fa')},
        updated_at = now()
      FROM n WHERE j.queue = n.q AND j.bullmq_id = n.b
      RETURNING j.queue, j.bullmq_id
    )
    INSERT INTO jobs (${BASE_COLUMNS}, attempts_made, started_at, finished_at, updated_at)
    SELECT ${BASE_VALUES}, n.am, ${ts('n.sa')}, ${ts('n.fa')}, now()
    FROM n WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.queue = n.q AND u.bullmq_id = n.b)
    ON CONFLICT (queue, bullmq_id) DO UPDATE SET
      status = EXCLUDED.status,
      attempts_made = EXCLUDED.attempts_made,
      started_at = COALESCE(EXCLUDED.started_at, jobs.started_at),
      finished_at = EXCLUDED.finished_at,
      updated_at = now()`,
  results: `INSERT INTO job_results (id, source_account_id, job_id, result, duration_ms, created_at)
    SELECT n.i, n.a, j.id, n.v, n.d, ${ts('n.ca')}
    FROM json_to_recordset($1::json) AS n(i uuid, a text, q text, b text, v jsonb, d int, ca float8)
    JOIN jobs j ON j.queue = n.q AND j.bullmq_id = n.b
    ON CONFLICT (job_id) DO UPDATE SET result = EXCLUDED.result, duration_ms = EXCLUDED.duration_ms,
      created_at = EXCLUDED.created_at`,
  failures: `INSERT INTO job_failures (id, source_account_id, job_id, attempt, error, error_name, is_final, failed_at)
    SELECT n.i, n.a, j.id, n.n, n.e, n.en, n.f, ${ts('n.fa')}
    FROM json_to_recordset($1::json) AS n(i uuid, a text, q text, b text, n int, e text, en text, f boolean, fa float8)
    JOIN jobs j ON j.queue = n.q AND j.bullmq_id = n.b
    ON CONFLICT (job_id, attempt) DO NOTHING`,
  scheduleRuns: `UPDATE job_schedules s SET
      last_run_at = GREATEST(COALESCE(s.last_run_at, ${ts('n.l')}), ${ts('n.l')}),
      next_run_at = ${ts('n.x')},
      updated_at = now()
    FROM json_to_recordset($1::json) AS n(i uuid, l float8, x float8)
    WHERE s.id = n.i`,
} as const;

const ORDER = ['creates', 'transitions', 'results', 'failures', 'scheduleRuns'] as const;

/**
 * Errors that retrying the same rows cannot fix (SQLSTATE class 22 data exception, e.g. a \u0000 in a
 * JSON string; 23 integrity violation): the recorder then isolates and drops the offending rows instead
 * of retrying the batch forever. Anything else (connection lost, server restarting) is retried.
 */
export function isPermanentDbError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|23)/.test(code);
}

/**
 * Writes one batch of lifecycle events in one transaction with a few set-based statements; each gets its
 * rows as a single JSON parameter (json_to_recordset), whatever the batch size. Rows are keyed on
 * (queue, bullmq_id): whichever event reaches Postgres first creates the row. Runs on its own small
 * pg pool (synchronous_commit off: the mirror trades the last few ms of durability for throughput;
 * BullMQ remains the source of truth).
 */
export async function writeLifecycleBatch(pool: pg.Pool, batch: LifecycleBatch): Promise<void> {
  const parts = ORDER.filter((k) => batch[k].length);
  if (!parts.length) return;
  const client = await pool.connect();
  try {
    if (parts.length > 1) await client.query('BEGIN');
    // Named (prepared) statements: parsed and planned once per connection, not once per batch.
    for (const k of parts) await client.query({ name: `jobs-mirror-${k}`, text: STATEMENTS[k], values: [`[${batch[k].join(',')}]`] });
    if (parts.length > 1) await client.query('COMMIT');
  } catch (error) {
    if (parts.length > 1) await client.query('ROLLBACK').catch(() => undefined);
    client.release(error as Error);
    throw error;
  }
  client.release();
}
