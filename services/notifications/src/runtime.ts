import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authConfigFromEnv, createAuthenticator } from '@nself/auth';
import { checkDatabase, createPrisma, type PrismaClient } from '@nself/db';
import { AmqpConnection, EventBus } from '@nself/events';
import { createHealth } from '@nself/health';
import { closeServer, createServiceApp, listen } from '@nself/http';
import { createLogger, type Logger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createShutdown, type Shutdown } from '@nself/shutdown';
import { DeliveryStore } from './adapters/delivery-store.js';
import { NotificationQueue } from './adapters/queue.js';
import { createSql } from './adapters/sql.js';
import { startSmtpSink, type SmtpSink } from './adapters/smtp-sink.js';
import { createApp } from './app.js';
import type { NotificationsConfig } from './config.js';
import { createApiMetrics, createDeliveryMetrics } from './metrics.js';
import { createProviderRegistry, createProviders } from './providers/registry.js';
import type { Provider } from './providers/types.js';
import { createDeliveryProcessor } from './use-cases/deliver.js';
import { createDispatcher } from './use-cases/dispatch.js';

export const SERVICE = 'notifications';
export const VERSION = '1.0.0';

export interface RunningProcess {
  port: number;
  server: Server;
  shutdown: Shutdown;
  logger: Logger;
  prisma: PrismaClient;
  /** Runs the ordered shutdown steps (what SIGTERM does, without exiting). */
  stop(): Promise<void>;
}

/**
 * Two pools per process: plain pg for the hot path (sends, claims, results) and Prisma for the rest
 * (CRUD, the dispatcher). DATABASE_POOL_SIZE is the pg pool; Prisma gets half of it.
 */
function databases(url: string, size: number) {
  return {
    sql: createSql(url, { max: size }),
    prisma: createPrisma(url, { maxConnections: Math.max(2, Math.ceil(size / 2)) }),
  };
}

function queueFor(config: NotificationsConfig, logger: Logger, name: string, prefetch?: number): NotificationQueue {
  const connection = new AmqpConnection(config.queueUrl, logger, { name, prefetch });
  return new NotificationQueue(connection, {
    prefix: config.env.NOTIFICATIONS_QUEUE_PREFIX,
    maxAttempts: config.env.NOTIFICATIONS_MAX_ATTEMPTS,
    logger,
    publishTimeoutMs: config.env.NOTIFICATIONS_PUBLISH_TIMEOUT_MS,
  });
}

function eventsFor(config: NotificationsConfig, logger: Logger, queue: NotificationQueue, service: string): EventBus {
  // Same broker: one socket for the queues and the events; otherwise a connection of its own.
  const shared = config.queueUrl === config.env.AMQP_URL ? queue.connection : undefined;
  return new EventBus({ url: config.env.AMQP_URL, logger, service, exchange: config.env.EVENTS_EXCHANGE, connection: shared });
}

/** The API process: HTTP on NOTIFICATIONS_PORT, publishing to RabbitMQ. */
export async function startApi(config: NotificationsConfig, options: { logger?: Logger; port?: number } = {}): Promise<RunningProcess> {
  const env = config.env;
  const logger = options.logger ?? createLogger({ service: SERVICE, version: VERSION, level: env.LOG_LEVEL });
  const { prisma, sql } = databases(env.DATABASE_URL, env.DATABASE_POOL_SIZE);
  const queue = queueFor(config, logger, `${SERVICE}-api`);
  const events = eventsFor(config, logger, queue, SERVICE);
  const metrics = createMetrics(SERVICE);
  const health = createHealth({
    database: () => checkDatabase(prisma),
    rabbitmq: () => queue.check(),
  });
  const authenticator = createAuthenticator(authConfigFromEnv(env));
  // Dependencies first (also warms the connection pool), then listen.
  await checkDatabase(prisma);
  await queue.start();
  await events.start();
  const app = createApp({
    config,
    prisma,
    sql,
    publisher: queue,
    authenticator,
    logger,
    events,
    apiMetrics: createApiMetrics(metrics.registry),
    health,
    metrics,
  });
  const server = await listen(app, options.port ?? env.NOTIFICATIONS_PORT);
  const shutdown = createShutdown({ logger, timeoutMs: env.SHUTDOWN_TIMEOUT_MS });
  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server));
  shutdown.add('events', () => events.close());
  shutdown.add('rabbitmq', () => queue.close());
  shutdown.add('database', () => Promise.all([prisma.$disconnect(), sql.close()]));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port }, 'notifications API listening');
  return { port, server, shutdown, logger, prisma, stop: () => shutdown.run('stop') };
}

export interface WorkerOptions {
  logger?: Logger;
  port?: number;
  /** Extra providers (tests); they are appended after the configured ones. */
  providers?: Provider[];
}

/** The delivery worker: consumes the queue, sends through the providers, runs the dispatcher. */
export async function startWorker(config: NotificationsConfig, options: WorkerOptions = {}): Promise<RunningProcess & { sink: SmtpSink | null }> {
  const env = config.env;
  const logger = options.logger ?? createLogger({ service: `${SERVICE}-worker`, version: VERSION, level: env.LOG_LEVEL });
  const { prisma, sql } = databases(env.DATABASE_URL, env.DATABASE_POOL_SIZE);
  const shutdown = createShutdown({ logger, timeoutMs: env.SHUTDOWN_TIMEOUT_MS });

  let sink: SmtpSink | null = null;
  let smtpUrl = env.NOTIFICATIONS_SMTP_URL;
  if (config.emailProviders.length && !smtpUrl) {
    if (env.NOTIFICATIONS_DEV_SMTP_SINK) {
      sink = await startSmtpSink({ port: env.NOTIFICATIONS_DEV_SMTP_PORT, dir: env.NOTIFICATIONS_DEV_SMTP_DIR, logger });
      smtpUrl = sink.url;
      logger.warn({ dir: sink.dir }, 'NOTIFICATIONS_SMTP_URL is not set: emails go to the embedded development sink');
    } else {
      logger.warn('NOTIFICATIONS_SMTP_URL is not set and the development sink is off: email cannot be delivered');
    }
  }
  const providers = [...createProviders(config, smtpUrl), ...(options.providers ?? [])];
  const registry = createProviderRegistry(providers, prisma);
  const queue = queueFor(config, logger, `${SERVICE}-worker`, env.NOTIFICATIONS_PREFETCH);
  const events = eventsFor(config, logger, queue, SERVICE);
  const metrics = createMetrics(`${SERVICE}-worker`);
  const deliveryMetrics = createDeliveryMetrics(metrics.registry);
  const health = createHealth({ database: () => checkDatabase(prisma), rabbitmq: () => queue.check() });

  const processor = createDeliveryProcessor({
    store: new DeliveryStore(sql),
    queue,
    registry,
    events,
    metrics: deliveryMetrics,
    logger,
    options: {
      leaseMs: env.NOTIFICATIONS_CLAIM_LEASE_MS,
      sendTimeoutMs: env.NOTIFICATIONS_PROVIDER_TIMEOUT_MS,
      providerAttempts: env.NOTIFICATIONS_PROVIDER_ATTEMPTS,
      retry: { baseMs: env.NOTIFICATIONS_RETRY_BASE_MS, maxMs: env.NOTIFICATIONS_RETRY_MAX_MS, jitter: env.NOTIFICATIONS_RETRY_JITTER },
      concurrency: env.NOTIFICATIONS_CONCURRENCY,
      emitSentEvents: env.NOTIFICATIONS_EMIT_SENT_EVENTS,
    },
  });
  const dispatcher = createDispatcher({
    prisma,
    queue,
    logger,
    options: {
      intervalMs: env.NOTIFICATIONS_POLL_INTERVAL_MS,
      relayGraceMs: env.NOTIFICATIONS_RELAY_GRACE_MS,
      chunk: env.NOTIFICATIONS_BULK_CHUNK,
      maxAttempts: env.NOTIFICATIONS_MAX_ATTEMPTS,
      digestTemplate: env.NOTIFICATIONS_DIGEST_TEMPLATE,
      leaseMs: env.NOTIFICATIONS_CLAIM_LEASE_MS,
      queuePrefix: env.NOTIFICATIONS_QUEUE_PREFIX,
    },
  });

  // Health first; consumers start only once the database answers (readiness uses the same checks).
  const app = createServiceApp({ logger, health, metrics, routes: () => undefined });
  const server = await listen(app, options.port ?? env.NOTIFICATIONS_WORKER_PORT);
  await checkDatabase(prisma);
  await queue.start();
  await events.start();
  await queue.consume((message) => processor.handle(message));
  dispatcher.start();

  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server));
  shutdown.add('dispatcher', () => dispatcher.stop());
  shutdown.add('consumer', () => {
    processor.stop();
    return queue.stopConsuming(Math.max(1000, env.SHUTDOWN_TIMEOUT_MS - 3000));
  });
  shutdown.add('events', () => events.close());
  shutdown.add('rabbitmq', () => queue.close());
  shutdown.add('providers', () => registry.close());
  if (sink) shutdown.add('smtp sink', () => sink.close());
  shutdown.add('database', () => Promise.all([prisma.$disconnect(), sql.close()]));
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, providers: registry.list() }, 'notifications worker started');
  return { port, server, shutdown, logger, prisma, sink, stop: () => shutdown.run('stop') };
}
