import { createAuthenticator } from '@nself/auth';
import { ConfigError } from '@nself/config';
import { checkDatabase } from '@nself/db';
import { EventBus } from '@nself/events';
import { createHealth } from '@nself/health';
import { closeServer, listen } from '@nself/http';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createShutdown } from '@nself/shutdown';
import { createIdmeApp } from './app.js';
import { loadIdmeConfig } from './config.js';
import { createIdmeDeps } from './wiring.js';

const SERVICE = 'idme';

/** Starts the idme HTTP service (also `nself-idme server`). */
export async function startServer(): Promise<{ port: number; stop: () => Promise<void> }> {
  const config = loadIdmeConfig();
  if (config.allowedReturnUrls.length === 0) {
    throw new ConfigError([{ variable: 'IDME_ALLOWED_RETURN_URLS', problem: 'is required (where the callback may send the browser back)' }]);
  }
  const logger = createLogger({ service: SERVICE, level: config.env.LOG_LEVEL });
  const metrics = createMetrics(SERVICE);
  const events = new EventBus({ url: config.env.AMQP_URL, logger, service: SERVICE, exchange: config.env.EVENTS_EXCHANGE });
  const deps = createIdmeDeps({ config, logger, metrics, events });
  const health = createHealth({ database: () => checkDatabase(deps.prisma), rabbitmq: () => events.check() });
  const authenticator = createAuthenticator(config.auth);

  await events.start();
  const app = createIdmeApp({ deps, authenticator, health, metrics });
  const server = await listen(app, config.port, config.host);
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  logger.info(
    {
      port,
      issuer: config.provider.issuer,
      sandbox: config.provider.sandbox,
      tokensStored: Boolean(config.tokenEncryptionKey),
      webhooks: Boolean(config.webhookSecret),
    },
    'idme listening',
  );

  const shutdown = createShutdown({ logger, timeoutMs: config.env.SHUTDOWN_TIMEOUT_MS });
  shutdown.add('readiness', () => health.markShuttingDown());
  shutdown.add('http', () => closeServer(server));
  shutdown.add('events', () => events.close());
  shutdown.add('database', () => deps.prisma.$disconnect());
  shutdown.installSignalHandlers();
  return { port, stop: () => shutdown.run('stop') };
}
