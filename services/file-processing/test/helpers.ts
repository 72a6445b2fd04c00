/** A file-processing service wired to the run's real Postgres, Redis, RabbitMQ, clamd and S3 server. */
import type { Express } from 'express';
import request from 'supertest';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { createAuthenticator } from '@nself/auth';
import { EventBus, type DomainEvent } from '@nself/events';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { bearer, testInfra, TEST_ADMIN_SECRET, TEST_JWT_SECRET, uniqueName, waitFor } from '@nself/test-support';
import { createFileApp } from '../src/app.js';
import { loadFileConfig, type FileConfig } from '../src/config.js';
import { createJobWorker, type JobWorker } from '../src/adapters/queue.js';
import type { JobRecord } from '../src/adapters/repository.js';
import { recordFinalFailures, runJob } from '../src/job-runner.js';
import { createFileMetrics } from '../src/metrics.js';
import { createFileHealth, createRuntime, type Runtime } from '../src/runtime.js';

export const testLogLevel = (process.env.TEST_LOG_LEVEL ?? 'silent') as 'silent';

/** Environment for one isolated service instance: own bucket, queue and event exchange. */
export function serviceEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const infra = testInfra();
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: testLogLevel,
    DATABASE_URL: infra.databaseUrl,
    DATABASE_POOL_SIZE: '4',
    REDIS_URL: infra.redisUrl,
    REDIS_KEY_PREFIX: infra.redisPrefix,
    AMQP_URL: infra.amqpUrl,
    EVENTS_EXCHANGE: uniqueName('fp-events'),
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_SECRET: TEST_ADMIN_SECRET,
    FILE_STORAGE_PROVIDER: 'minio',
    FILE_STORAGE_ENDPOINT: infra.s3.endpoint,
    FILE_STORAGE_ACCESS_KEY: infra.s3.accessKeyId,
    FILE_STORAGE_SECRET_KEY: infra.s3.secretAccessKey,
    FILE_STORAGE_REGION: infra.s3.region,
    FILE_STORAGE_BUCKET: uniqueName('fp'),
    FILE_QUEUE_NAME: uniqueName('fpq'),
    FILE_ENABLE_VIRUS_SCAN: 'true',
    FILE_CLAMD_HOST: infra.clamd.host,
    FILE_CLAMD_PORT: String(infra.clamd.port),
    FILE_JOB_ATTEMPTS: '3',
    FILE_JOB_BACKOFF_MS: '100',
    FILE_WORKER_CONCURRENCY: '2',
    FILE_SHARP_CONCURRENCY: '2',
    FILE_STORAGE_EVENT_SECRET: 'storage-event-secret-0123456789',
    ...overrides,
  };
}

export interface EventCollector {
  events: DomainEvent[];
  forFile(fileId: string): DomainEvent[];
  close(): Promise<void>;
}

/** Listens on the instance's event exchange with a queue of its own. */
export async function collectEvents(config: FileConfig): Promise<EventCollector> {
  const logger = createLogger({ service: 'test-events', level: testLogLevel });
  const bus = new EventBus({ url: config.amqpUrl, logger, service: 'test', exchange: config.eventsExchange });
  const events: DomainEvent[] = [];
  await bus.start();
  await bus.subscribe({
    queue: uniqueName('fp-collector'),
    bindings: ['file.*'],
    handler: async (event) => {
      events.push(event);
    },
  });
  return {
    events,
    forFile: (fileId) => events.filter((e) => (e.data as { fileId?: string }).fileId === fileId),
    close: () => bus.close(),
  };
}

export interface Harness {
  /** The environment the instance was configured from (to start worker processes on the same queue). */
  env: Record<string, string>;
  config: FileConfig;
  runtime: Runtime;
  app: Express;
  events: EventCollector;
  worker?: JobWorker;
  s3: S3Client;
  /** Keys currently in the instance's bucket. */
  listKeys(): Promise<string[]>;
  waitForJob(jobId: string, statuses?: string[], timeoutMs?: number): Promise<JobRecord>;
  close(): Promise<void>;
}

export async function startHarness(options: { env?: Record<string, string>; worker?: boolean } = {}): Promise<Harness> {
  const env = serviceEnv(options.env);
  const config = loadFileConfig(env);
  const logger = createLogger({ service: 'file-processing-test', level: testLogLevel });
  const httpMetrics = createMetrics('file-processing');
  const runtime = await createRuntime(config, logger, createFileMetrics(httpMetrics));
  await runtime.storage.ensureBucket();
  await runtime.events.start();
  const health = createFileHealth(runtime, { redis: () => runtime.queue.check() });
  const app = createFileApp({ ...runtime.service, authenticator: createAuthenticator(config.auth), health, httpMetrics });
  const events = await collectEvents(config);
  let worker: JobWorker | undefined;
  if (options.worker) {
    worker = createJobWorker(
      {
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        name: config.queueName,
        attempts: config.worker.attempts,
        backoffMs: config.worker.backoffMs,
        concurrency: config.worker.concurrency,
        lockMs: config.worker.lockMs,
        stalledIntervalMs: config.worker.stalledIntervalMs,
      },
      (job) => runJob(runtime.pipeline, job),
      (err) => logger.error({ err }, 'worker error'),
    );
    recordFinalFailures(worker, runtime.pipeline);
    worker.start();
  }
  const infra = testInfra();
  const s3 = new S3Client({
    endpoint: infra.s3.endpoint,
    region: infra.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: infra.s3.accessKeyId, secretAccessKey: infra.s3.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    env,
    config,
    runtime,
    app,
    events,
    worker,
    s3,
    async listKeys() {
      const keys: string[] = [];
      for await (const object of runtime.storage.list()) keys.push(object.key);
      return keys;
    },
    waitForJob(jobId, statuses = ['completed', 'failed'], timeoutMs = 60_000) {
      return waitFor(
        async () => {
          const job = await runtime.repo.getJob(jobId);
          return job && statuses.includes(job.status) ? job : null;
        },
        { timeoutMs, intervalMs: 100, label: `job ${jobId} to reach ${statuses.join('/')}` },
      );
    },
    async close() {
      await worker?.close();
      await events.close();
      await runtime.queue.close();
      await runtime.events.close();
      await runtime.prisma.$disconnect();
      s3.destroy();
    },
  };
}

/** A user of its own account (tests never see each other's rows). */
export function newUser(account = uniqueName('acct'), sub = uniqueName('user')) {
  return { account, sub, headers: bearer({ sub, sourceAccountId: account }) };
}

export function adminOf(account: string) {
  return { 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account };
}

export async function upload(
  app: Express,
  headers: Record<string, string>,
  body: Buffer,
  file: { filename: string; contentType?: string },
) {
  return request(app)
    .post('/v1/files')
    .set(headers)
    .attach('file', body, { filename: file.filename, contentType: file.contentType ?? 'application/octet-stream' });
}

export { ListObjectsV2Command };

export interface SpawnedProcess {
  child: import('node:child_process').ChildProcess;
  /** Parsed JSON log lines written so far. */
  lines: Record<string, unknown>[];
  output: () => string;
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  exited: Promise<number | null>;
}

/** Starts src/<entry>.ts as its own Node process (as the native runner does), logging JSON to a buffer. */
export async function spawnEntry(entry: 'worker' | 'main' | 'cli', env: Record<string, string>, args: string[] = []): Promise<SpawnedProcess> {
  const { spawn } = await import('node:child_process');
  const infra = testInfra();
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', `services/file-processing/src/${entry}.ts`, ...args],
    {
      cwd: infra.repoRoot,
      env: { ...process.env, ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let text = '';
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    text += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    text += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    output: () => text,
    exited,
    async waitForLine(match, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = lines.find(match);
        if (found) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process exited early:\n${text}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for a log line:\n${text.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
