import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

/** The payload of one processing job; the BullMQ job id is the file_processing_jobs row id. */
export interface ProcessJobData {
  jobId: string;
  fileId: string;
  sourceAccountId: string;
  requestId: string | null;
}

export interface ProcessJobProgress {
  /** Set once the outcome event went out, so a retry after a crash does not send it twice. */
  published?: boolean;
}

export type ProcessJob = Job<ProcessJobData, unknown, 'process'>;

export interface QueueSettings {
  redisUrl: string;
  prefix: string;
  name: string;
  attempts: number;
  backoffMs: number;
}

export interface JobQueue {
  enqueue(data: ProcessJobData): Promise<void>;
  counts(): Promise<Record<string, number>>;
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Producer side (API, CLI): fails fast when Redis is away instead of queueing commands in memory. */
export function createJobQueue(settings: QueueSettings): JobQueue {
  const connection = new Redis(settings.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
  connection.on('error', () => undefined); // reported through check() and failing calls
  const queue = new Queue<ProcessJobData, unknown, 'process'>(settings.name, {
    connection,
    prefix: settings.prefix,
    defaultJobOptions: {
      attempts: settings.attempts,
      backoff: { type: 'exponential', delay: settings.backoffMs },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  queue.on('error', () => undefined);
  return {
    async enqueue(data) {
      // jobId = the database job id: adding the same job twice is a no-op.
      await queue.add('process', data, { jobId: data.jobId });
    },
    async counts() {
      return queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    },
    async check() {
      const pong = await connection.ping();
      if (pong !== 'PONG') throw new Error('Redis did not answer PING');
    },
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

export interface WorkerSettings extends QueueSettings {
  concurrency: number;
  lockMs: number;
  stalledIntervalMs: number;
}

export interface JobWorker {
  /** Starts taking jobs (workers are created paused until dependencies are ready). */
  start(): void;
  check(): Promise<void>;
  /** Stops taking jobs and waits for the running ones to finish. */
  close(): Promise<void>;
  readonly worker: Worker<ProcessJobData, unknown, 'process'>;
}

/**
 * Consumer side. A job whose worker died keeps its lock until lockMs passes; the stalled-job check
 * (every stalledIntervalMs) then moves it back to waiting and another worker runs it again.
 */
export function createJobWorker(
  settings: WorkerSettings,
  processor: (job: ProcessJob) => Promise<unknown>,
  onError: (error: Error) => void,
): JobWorker {
  const options: RedisOptions = { maxRetriesPerRequest: null };
  const connection = new Redis(settings.redisUrl, options);
  connection.on('error', () => undefined);
  const worker = new Worker<ProcessJobData, unknown, 'process'>(settings.name, processor, {
    connection,
    prefix: settings.prefix,
    concurrency: settings.concurrency,
    lockDuration: settings.lockMs,
    stalledInterval: settings.stalledIntervalMs,
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on('error', onError);
  return {
    worker,
    start() {
      void worker.run().catch(onError);
    },
    async check() {
      const pong = await connection.ping();
      if (pong !== 'PONG') throw new Error('Redis did not answer PING');
      if (!worker.isRunning()) throw new Error('worker is not running');
    },
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}

export { UnrecoverableError };
