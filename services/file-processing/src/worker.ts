import type { AddressInfo } from 'node:net';
import { closeServer, createServiceApp, listen } from '@nself/http';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createShutdown } from '@nself/shutdown';
import { loadFileConfig } from './config.js';
import { createJobWorker } from './adapters/queue.js';
import { recordFinalFailures, runJob } from './job-runner.js';
import { createFileMetrics } from './metrics.js';
import { createFileHealth, createRuntime, prepareStorage, SERVICE_NAME } from './runtime.js';

/** The worker process: takes processing jobs; /health, /ready and /metrics on FILE_WORKER_PORT. */
export async function startWorker(): Promise<void> {
  const config = loadFileConfig();
  const logger = createLogger({ service: `${SERVICE_NAME}-worker`, level: config.env.LOG_LEVEL });
  const httpMetrics = createMetrics(`${SERVICE_NAME}-worker`);
  const runtime = await createRuntime(config, logger, createFileMetrics(httpMetrics));
  await prepareStorage(config, runtime.storage, logger);

  const worker = createJobWorker(
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

  const health = createFileHealth(runtime, { redis: () => worker.check() }, { clamd: true });
  const app = createServiceApp({ logger, health, metrics: httpMetrics, routes: () => undefined });
  const server = await listen(app, config.workerPort, config.host);
  const { port } = server.address() as AddressInfo;

  const shutdown = createShutdown({ logger, timeoutMs: config.env.SHUTDOWN_TIMEOUT_MS });
  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server, 2000));
  // Running jobs finish; waiting ones stay in Redis for the next worker.
  shutdown.add('worker', () => worker.close());
  shutdown.add('queue', () => runtime.queue.close());
  shutdown.add('events', () => runtime.events.close());
  shutdown.add('database', () => runtime.prisma.$disconnect());
  shutdown.installSignalHandlers();

  // Consumers start once their dependencies answer (events are published from inside jobs).
  await runtime.events.start();
  await runtime.repo.check();
  worker.start();
  logger.info(
    {
      port,
      queue: config.queueName,
      concurrency: config.worker.concurrency,
      virusScan: config.scan.enabled,
      tools: Object.fromEntries(Object.entries(runtime.tools).map(([name, t]) => [name, t.available])),
    },
    'file-processing worker listening',
  );
}

startWorker().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
