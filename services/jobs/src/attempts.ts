import { JobTimeoutError } from './job-errors.js';

/** One running attempt, as the tracker sees it. */
export interface Attempt {
  timeoutMs: number;
  deadline: number;
  /** Fails the attempt with this error (aborting the handler's signal); later calls are ignored. */
  fail(error: Error): void;
  /** Encodes the job's "active" mirror row (called at most once, if it still runs at a mirror flush). */
  encodeActive?: () => string;
  recorded?: boolean;
}

/**
 * The running attempts of one worker, with one shared timer instead of a timer per job: every `tickMs`
 * the attempts past their deadline are failed with JOB_TIMEOUT (so a timeout fires within tickMs of
 * its due time). Cancellation and shutdown find attempts here by BullMQ id.
 */
export class AttemptTracker {
  private readonly active = new Map<string, Attempt>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs = 20) {}

  get size(): number {
    return this.active.size;
  }

  start(bullmqId: string, attempt: Attempt): void {
    this.active.set(bullmqId, attempt);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  end(bullmqId: string, attempt: Attempt): void {
    if (this.active.get(bullmqId) === attempt) this.active.delete(bullmqId);
    if (!this.active.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Fails a running attempt; false when no attempt of that job runs here. */
  fail(bullmqId: string, error: Error): boolean {
    const attempt = this.active.get(bullmqId);
    if (!attempt) return false;
    attempt.fail(error);
    return true;
  }

  /** Running attempts whose "active" row is not written yet; each is handed out once. */
  *unrecorded(): Generator<[string, Attempt]> {
    for (const entry of this.active) {
      const attempt = entry[1];
      if (!attempt.recorded && attempt.encodeActive) {
        attempt.recorded = true;
        yield entry;
      }
    }
  }

  failAll(error: () => Error): void {
    for (const attempt of this.active.values()) attempt.fail(error());
  }

  private tick(): void {
    const now = Date.now();
    for (const attempt of this.active.values()) {
      if (now >= attempt.deadline) attempt.fail(new JobTimeoutError(attempt.timeoutMs));
    }
  }
}
