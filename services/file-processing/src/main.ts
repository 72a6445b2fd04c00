import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '@nself/auth';
import { closeServer, listen } from '@nself/http';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createShutdown } from '@nself/shutdown';
import { createFileApp } from './app.js';
import { loadFileConfig } from './config.js';
import { createFileMetrics } from './metrics.js';
import { createFileHealth, createRuntime, prepareStorage, SERVICE_NAME } from './runtime.js';

/** The API process: uploads, file and job views, deletes, storage events. */
export async function startServer(): Promise<void> {
  const config = loadFileConfig();
  const logger = createLogger({ service: SERVICE_NAME, level: config.env.LOG_LEVEL });
  const httpMetrics = createMetrics(SERVICE_NAME);
  const runtime = await createRuntime(config, logger, createFileMetrics(httpMetrics));
  await prepareStorage(config, runtime.storage, logger);
  void runtime.events.start().catch((err) => logger.error({ err }, 'event bus did not start'));
  const health = createFileHealth(runtime, { redis: () => runtime.queue.check() });
  const app = createFileApp({
    ...runtime.service,
    authenticator: createAuthenticator(config.auth),
    health,
    httpMetrics,
  });
  const server = await listen(app, config.port, config.host);
  // Uploads stream for as long as the client sends; the request timeout must not cut them short.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  const { port } = server.address() as AddressInfo;
  logger.info({ port, storage: runtime.storage.kind, bucket: runtime.storage.bucket }, 'file-processing API listening');

  const shutdown = createShutdown({ logger, timeoutMs: config.env.SHUTDOWN_TIMEOUT_MS });
  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server, Math.max(1000, config.env.SHUTDOWN_TIMEOUT_MS - 3000)));
  shutdown.add('queue', () => runtime.queue.close());
  shutdown.add('events', () => runtime.events.close());
  shutdown.add('database', () => runtime.prisma.$disconnect());
  shutdown.installSignalHandlers();
}

startServer().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
