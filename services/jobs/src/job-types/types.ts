import type { Logger } from '@nself/logging';
import type { JobMeta } from '../contracts.js';

/** What a handler gets besides its payload. */
export interface JobContext {
  /** jobs.id (our uuid). */
  jobId: string;
  bullmqId: string;
  queue: string;
  type: string;
  /** 1 for the first attempt. */
  attempt: number;
  meta: JobMeta;
  /** Aborted on timeout or cancellation; handlers pass it to whatever they wait on. */
  signal: AbortSignal;
  logger: Logger;
}

export interface JobHandler<P = unknown> {
  /** Validates the payload; a mismatch is a permanent failure. */
  parse(payload: unknown): P;
  run(payload: P, ctx: JobContext): Promise<unknown>;
}
