import { Redis } from 'ioredis';
import { createHealth } from '@nself/health';
import { closeServer, listen } from '@nself/http';
import { createLogger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createShutdown } from '@nself/shutdown';
import { createGateway } from './app.js';
import { loadGatewayConfig } from './config.js';
import { readinessChecks } from './readiness.js';
import { ReplicaPool } from './replica-pool.js';

const config = loadGatewayConfig();
const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
const redis = new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
redis.on('error', (error) => logger.warn({ err: error }, 'redis error'));
const health = createHealth(readinessChecks(config, redis));
const metrics = createMetrics('gateway');
const realtime = new ReplicaPool(config.REALTIME_URLS, logger);
realtime.startHealthChecks();

const gateway = createGateway({ config, logger, redis, health, metrics, realtime });
const server = await listen(gateway.app, config.GATEWAY_PORT, config.GATEWAY_HOST);
server.on('upgrade', gateway.handleUpgrade);
const address = server.address();
logger.info({ port: typeof address === 'object' && address ? address.port : config.GATEWAY_PORT }, 'gateway listening');

const shutdown = createShutdown({ logger, timeoutMs: config.SHUTDOWN_TIMEOUT_MS });
shutdown.add('readiness', () => health.markShuttingDown());
shutdown.add('http server', () => closeServer(server));
shutdown.add('websockets and upstream connections', () => gateway.closeConnections());
shutdown.add('replica health checks', () => realtime.stop());
shutdown.add('redis', () => redis.quit());
shutdown.installSignalHandlers();
