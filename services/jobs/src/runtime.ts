import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { createAuthenticator } from '@nself/auth';
import { checkDatabase, createPrisma, type PrismaClient } from '@nself/db';
import { createHealth, type Health } from '@nself/health';
import { closeServer, listen } from '@nself/http';
import type { Logger } from '@nself/logging';
import { createMetrics, type Metrics } from '@nself/metrics';
import { createShutdown, type Shutdown } from '@nself/shutdown';
import type { Express } from 'express';
import { subscribeCancel } from './adapters/cancel-channel.js';
import { createJobEvents } from './adapters/job-events.js';
import { isPermanentDbError, writeLifecycleBatch } from './adapters/job-store.js';
import { createJobsRepository, type JobsRepository } from './adapters/jobs-repository.js';
import { createWorkerStore } from './adapters/worker-store.js';
import { LifecycleRecorder } from './adapters/lifecycle-recorder.js';
import { createQueueRegistry, type QueueRegistry } from './adapters/queues.js';
import { createRedis, redisReady } from './adapters/redis.js';
import { createObjectStore } from './adapters/s3.js';
import { createSafeHttpClient, type SafeHttpClient } from './adapters/safe-http.js';
import { createJobsApp } from './app.js';
import type { ApiDeps } from './use-cases/deps.js';
import type { JobsConfig } from './config.js';
import { createHandlerRegistry } from './job-types/registry.js';
import { createJobsMetrics, registerQueueDepth, type JobsMetrics } from './metrics.js';
import { restoreSchedules } from './use-cases/schedules.js';
import { createJobWorkers, type JobWorkers } from './worker-runtime.js';

interface Core {
  /** node-postgres pool for the batched mirror writes (synchronous_commit off) and the worker's reads. */
  mirrorPool: pg.Pool;
  metrics: Metrics;
  jobsMetrics: JobsMetrics;
  recorder: LifecycleRecorder;
  http: SafeHttpClient;
}

function createCore(config: JobsConfig, logger: Logger, service: string): Core {
  const mirrorPool = new pg.Pool({
    connectionString: config.databaseUrl,
    max: 3,
    application_name: `${service}-mirror`,
    options: '-c synchronous_commit=off',
  });
  mirrorPool.on('error', (error) => logger.warn({ err: error }, 'mirror pool connection error'));
  const metrics = createMetrics(service);
  const holder: { recorder?: LifecycleRecorder } = {};
  const jobsMetrics = createJobsMetrics(metrics, () => holder.recorder?.pending ?? 0);
  const recorder = new LifecycleRecorder({
    write: (batch) => writeLifecycleBatch(mirrorPool, batch),
    isPermanent: isPermanentDbError,
    logger,
    flushMs: config.mirror.flushMs,
    batchSize: config.mirror.batchSize,
    maxBuffer: config.mirror.maxBuffer,
    onFlush: (rows, ms) => {
      jobsMetrics.mirrorRows.inc(rows);
      jobsMetrics.mirrorFlush.observe(ms / 1000);
    },
    onError: () => jobsMetrics.mirrorErrors.inc(),
    onDrop: (rows) => jobsMetrics.mirrorDropped.inc(rows),
  });
  holder.recorder = recorder;
  const http = createSafeHttpClient({
    allowedHosts: config.http.allowedHosts,
    allowedCidrs: config.http.allowedCidrs,
    dnsServers: config.http.dnsServers,
    maxTimeoutMs: config.maxJobTimeoutMs,
    maxResponseBytes: config.http.maxResponseBytes,
    maxRedirects: config.http.maxRedirects,
  });
  return { mirrorPool, metrics, jobsMetrics, recorder, http };
}

interface ApiCore extends Core {
  prisma: PrismaClient;
  repo: JobsRepository;
}

const port = (server: Server) => (server.address() as AddressInfo).port;

/**
 * The worker's /health, /ready and /metrics, on a bare node:http handler: the shared Express app would
 * run each request (every orchestrator health check) inside AsyncLocalStorage for its request id, which
 * would turn on async context tracking for the whole process (see worker-store.ts).
 */
function workerHealthHandler(health: Health, metrics: Metrics) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'application/problem+json', JSON.stringify({ status: 405, code: 'METHOD_NOT_ALLOWED', title: 'Method Not Allowed' }));
      return;
    }
    if (path === '/health') {
      send(200, 'application/json', JSON.stringify(health.liveness()));
    } else if (path === '/ready') {
      void health.readiness().then((r) => send(r.status === 'ok' ? 200 : 503, 'application/json', JSON.stringify(r)));
    } else if (path === '/metrics') {
      void metrics.render().then(({ contentType, body }) => send(200, contentType, body));
    } else {
      send(404, 'application/problem+json', JSON.stringify({ status: 404, code: 'ROUTE_NOT_FOUND', title: 'Not Found', detail: `Route ${req.method} ${path} not found` }));
    }
  };
}

export interface ApiContext {
  deps: ApiDeps;
  core: ApiCore;
  /** Flushes the mirror and closes queues, Redis, the HTTP client and Postgres. */
  close(): Promise<void>;
}

/** What the API and the CLI share: repository, producers on a fail-fast connection, the mirror. */
export async function createApiContext(config: JobsConfig, logger: Logger, service = 'jobs'): Promise<ApiContext> {
  const prisma = createPrisma(config.databaseUrl, { maxConnections: 5 });
  const core: ApiCore = { ...createCore(config, logger, service), prisma, repo: createJobsRepository(prisma) };
  const redis = createRedis(config.redisUrl, 'producer');
  redis.on('error', (error) => logger.warn({ err: error }, 'Redis connection error'));
  try {
    await redisReady(redis, 30_000);
  } catch (error) {
    redis.disconnect();
    await core.prisma.$disconnect();
    throw error;
  }
  const queues = createQueueRegistry(config, redis);
  const deps: ApiDeps = { config, logger, repo: core.repo, queues, recorder: core.recorder, redis, http: core.http };
  return {
    deps,
    core,
    async close() {
      await core.recorder.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      core.http.close();
      await core.mirrorPool.end();
      await core.prisma.$disconnect();
    },
  };
}

export interface ApiServer {
  app: Express;
  server: Server;
  port: number;
  health: Health;
  queues: QueueRegistry;
  shutdown: Shutdown;
  stop(): Promise<void>;
}

/**
 * The API process: HTTP API + BullBoard, producers on a fail-fast Redis connection, schedules restored
 * from job_schedules. Shutdown order: readiness 503 → stop accepting → flush the mirror → queues →
 * Redis → Postgres.
 */
export async function startApiServer(config: JobsConfig, logger: Logger, options: { exit?: (code: number) => void } = {}): Promise<ApiServer> {
  const { core, deps: apiDeps } = await createApiContext(config, logger);
  const { redis, queues } = apiDeps;
  registerQueueDepth(core.metrics, () => queues.all());
  const health = createHealth({
    postgres: () => checkDatabase(core.prisma),
    redis: () => redis.ping(),
  });
  const authenticator = createAuthenticator(config.auth);
  const app = createJobsApp({
    ...apiDeps,
    authenticator,
    health,
    metrics: core.metrics,
  });

  await restoreSchedules({ repo: core.repo, queues, config, logger }).catch((error: unknown) =>
    logger.error({ err: error }, 'restoring job schedulers failed; they are restored at the next start'),
  );
  const server = await listen(app, config.port);
  logger.info({ port: port(server), queues: config.queues }, 'jobs API listening');

  const shutdown = createShutdown({ logger, timeoutMs: config.shutdownTimeoutMs, exit: options.exit });
  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server));
  shutdown.add('mirror', () => core.recorder.close());
  shutdown.add('queues', () => queues.close());
  shutdown.add('redis', () => redis.quit().catch(() => redis.disconnect()));
  shutdown.add('http-client', () => core.http.close());
  shutdown.add('postgres', async () => {
    await core.mirrorPool.end();
    await core.prisma.$disconnect();
  });
  return { app, server, port: port(server), health, queues, shutdown, stop: () => shutdown.run('stop') };
}

export interface WorkerProcess {
  workers: JobWorkers;
  server: Server;
  port: number;
  health: Health;
  shutdown: Shutdown;
  stop(): Promise<void>;
}

/**
 * A worker process for some queues: BullMQ workers, the cancel listener, the batched mirror, and a small
 * HTTP server for /health, /ready and /metrics (JOBS_WORKER_PORT). Shutdown: readiness 503 → workers
 * finish their running jobs (or release them on timeout) → mirror flushed → AMQP → Redis → Postgres.
 */
export async function startWorkerProcess(
  config: JobsConfig,
  logger: Logger,
  queueNames: string[] = config.workerQueues,
  options: { concurrency?: number; exit?: (code: number) => void } = {},
): Promise<WorkerProcess> {
  const unknown = queueNames.filter((q) => !config.queues.includes(q));
  if (unknown.length) throw new Error(`unknown queue(s): ${unknown.join(', ')} (JOBS_QUEUES: ${config.queues.join(', ')})`);
  const core = createCore(config, logger, 'jobs-worker');
  const store = createWorkerStore(core.mirrorPool);
  const connection = createRedis(config.redisUrl, 'worker');
  const producer = createRedis(config.redisUrl, 'producer');
  const subscriber = createRedis(config.redisUrl, 'subscriber');
  let cacheRedis: Redis | undefined;
  for (const r of [connection, producer, subscriber]) r.on('error', (error) => logger.warn({ err: error }, 'Redis connection error'));
  await Promise.all([redisReady(connection, 30_000), redisReady(producer, 30_000)]);

  const objectStore =
    config.s3.endpoint || config.s3.accessKeyId
      ? createObjectStore({
          endpoint: config.s3.endpoint,
          region: config.s3.region,
          accessKeyId: config.s3.accessKeyId,
          secretAccessKey: config.s3.secretAccessKey,
          forcePathStyle: config.s3.forcePathStyle,
        })
      : undefined;
  const registry = createHandlerRegistry({
    config,
    http: core.http,
    store: objectStore,
    cacheRedis: () => {
      cacheRedis ??= createRedis(config.cache.redisUrl, 'cache');
      return cacheRedis;
    },
    customTypes: store,
  });
  const events = createJobEvents({
    url: config.amqpUrl,
    exchange: config.eventsExchange,
    logger,
    completedEvents: config.completedEvents,
  });
  const workers = createJobWorkers(
    { config, logger, connection, registry, recorder: core.recorder, metrics: core.jobsMetrics, events },
    queueNames,
    { concurrency: options.concurrency },
  );
  await subscribeCancel(subscriber, config.bullPrefix, (request) => {
    if (workers.cancel(request.queue, request.bullmqId, request.reason)) {
      logger.info({ queue: request.queue, bullmqId: request.bullmqId }, 'cancelling a running job');
    }
  });

  // Schedules are restored by the worker too, so they come back even if only workers restart.
  const queues = createQueueRegistry(config, producer);
  registerQueueDepth(core.metrics, () => queues.all().filter((q) => queueNames.includes(q.name)));
  await restoreSchedules({ repo: store, queues, config, logger }).catch((error: unknown) =>
    logger.error({ err: error }, 'restoring job schedulers failed'),
  );

  const health = createHealth({
    postgres: () => store.check(),
    redis: () => connection.ping(),
    workers: async () => {
      if (!workers.isRunning()) throw new Error('workers are not running');
    },
    ...(events ? { rabbitmq: () => events.check() } : {}),
  });
  const server = await listen(workerHealthHandler(health, core.metrics), config.workerPort);
  logger.info({ port: port(server), queues: queueNames, concurrency: options.concurrency ?? config.concurrency }, 'jobs worker running');

  const shutdown = createShutdown({ logger, timeoutMs: config.shutdownTimeoutMs, exit: options.exit });
  shutdown.add('readiness', () => health.markShuttingDown());
  // Running jobs get most of the shutdown budget to finish; past it they are interrupted and put back
  // in the queue without using an attempt (and if the process dies first, stall recovery retries them).
  shutdown.add('workers', async () => {
    const grace = Math.max(500, config.shutdownTimeoutMs - 3000);
    let timer: NodeJS.Timeout | undefined;
    const closing = workers.close();
    const finished = await Promise.race([
      closing.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), grace);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      logger.warn({ graceMs: grace }, 'jobs still running at shutdown: putting them back in the queue');
      workers.releaseAll();
      await closing;
    }
  });
  shutdown.add('http', () => closeServer(server));
  shutdown.add('mirror', () => core.recorder.close());
  shutdown.add('events', () => events?.close());
  shutdown.add('queues', () => queues.close());
  shutdown.add('redis', async () => {
    await Promise.all(
      [connection, producer, subscriber, cacheRedis].filter(Boolean).map((r) => r!.quit().catch(() => r!.disconnect())),
    );
  });
  shutdown.add('storage', () => objectStore?.close());
  shutdown.add('http-client', () => core.http.close());
  shutdown.add('postgres', () => core.mirrorPool.end());
  return { workers, server, port: port(server), health, shutdown, stop: () => shutdown.run('stop') };
}
