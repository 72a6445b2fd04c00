import { Queue, type JobsOptions, type KeepJobs } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobsConfig } from '../config.js';
import type { JobEnvelope } from '../contracts.js';

export type JobsQueue = Queue<JobEnvelope, unknown, string>;

/** The producer side of every configured queue (API, CLI, BullBoard), on one fail-fast connection. */
export interface QueueRegistry {
  readonly names: string[];
  has(name: string): boolean;
  get(name: string): JobsQueue;
  all(): JobsQueue[];
  close(): Promise<void>;
}

/**
 * Options every job gets unless the request overrides them: retries with exponential backoff. Retention
 * (removeOnComplete / removeOnFail) is a worker option (see retention()), so it is not stored with, and
 * sent back for, every single job.
 */
export function defaultJobOptions(config: JobsConfig): JobsOptions {
  return {
    attempts: config.retryAttempts,
    backoff: { type: 'exponential', delay: config.retryDelayMs },
  };
}

/** How long finished jobs stay in Redis (Postgres keeps the history). */
export function retention(config: JobsConfig): { removeOnComplete: KeepJobs; removeOnFail: KeepJobs } {
  return {
    removeOnComplete: { age: config.keepCompleted.age, count: config.keepCompleted.count },
    removeOnFail: { age: config.keepFailed.age },
  };
}

export function createQueueRegistry(config: JobsConfig, connection: Redis): QueueRegistry {
  const queues = new Map<string, JobsQueue>(
    config.queues.map((name) => [
      name,
      new Queue<JobEnvelope, unknown, string>(name, {
        connection,
        prefix: config.bullPrefix,
        defaultJobOptions: defaultJobOptions(config),
      }),
    ]),
  );
  return {
    names: config.queues,
    has: (name) => queues.has(name),
    get(name) {
      const queue = queues.get(name);
      if (!queue) throw new Error(`unknown queue ${name}`);
      return queue;
    },
    all: () => [...queues.values()],
    async close() {
      await Promise.all([...queues.values()].map((q) => q.close().catch(() => undefined)));
    },
  };
}
