import { UnrecoverableError } from 'bullmq';

/** A failure another attempt cannot fix (bad payload, refused target, 4xx): no retries. */
export class PermanentJobError extends UnrecoverableError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'PermanentJobError';
  }
}

/** A failure worth retrying with backoff (5xx, network, timeouts of the target). */
export class RetryableJobError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RetryableJobError';
  }
}

/** The attempt ran longer than its timeout (JOBS_JOB_TIMEOUT or the job's own); retried like any failure. */
export class JobTimeoutError extends Error {
  readonly code = 'JOB_TIMEOUT';
  constructor(readonly timeoutMs: number) {
    super(`JOB_TIMEOUT: the attempt did not finish within ${timeoutMs} ms`);
    this.name = 'JobTimeoutError';
  }
}

/** Cancelled over the API while running: final, recorded as status "cancelled". */
export class JobCancelledError extends UnrecoverableError {
  readonly code = 'JOB_CANCELLED';
  constructor(reason = 'cancelled') {
    super(`JOB_CANCELLED: ${reason}`);
    this.name = 'JobCancelledError';
  }
}

/** A stable short name for job_failures.error_name: our code, else the error's class name. */
export function errorCode(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown } | null;
  if (e && typeof e.code === 'string' && /^[A-Z0-9_]{2,64}$/.test(e.code)) return e.code;
  if (e && typeof e.name === 'string') return e.name;
  return 'Error';
}

export const isCancellation = (error: unknown): boolean =>
  error instanceof JobCancelledError || (error as { message?: string } | null)?.message?.startsWith('JOB_CANCELLED') === true;

/** A running attempt interrupted by shutdown: the job is put back in the queue, not failed. */
export class WorkerShutdownError extends Error {
  readonly code = 'WORKER_SHUTDOWN';
  constructor() {
    super('WORKER_SHUTDOWN: the worker stopped before the attempt finished');
    this.name = 'WorkerShutdownError';
  }
}
