import net from 'node:net';
import amqp from 'amqplib';
import type { Redis } from 'ioredis';
import pg from 'pg';
import type { Check } from '@nself/health';
import type { GatewayConfig } from './config.js';

/** An upstream service is ready when its own /ready says so. */
function serviceReady(baseUrl: string): Check {
  return async () => {
    const res = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) throw new Error(`${res.status} from ${new URL(baseUrl).host}/ready`);
  };
}

async function postgresAnswers(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  await client.connect();
  try {
    await client.query('SELECT 1');
  } finally {
    await client.end();
  }
}

async function rabbitmqAnswers(url: string): Promise<void> {
  const connection = await amqp.connect(url, { timeout: 2000 });
  await connection.close();
}

async function s3Answers(endpoint: string): Promise<void> {
  // Any HTTP answer means the S3 server is up (an anonymous request to the root may be 403).
  const res = await fetch(endpoint, { signal: AbortSignal.timeout(2000) });
  if (res.status >= 500) throw new Error(`S3 endpoint answered ${res.status}`);
}

function clamdAnswers(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('clamd did not answer')));
    socket.on('connect', () => socket.write('zPING\0'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\0')) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () =>
      reply.startsWith('PONG') ? resolve() : reject(new Error('clamd did not answer PONG')),
    );
  });
}

/** Every upstream service (each realtime replica, each configured worker) and every configured piece of infrastructure. */
export function readinessChecks(config: GatewayConfig, redis: Redis): Record<string, Check> {
  const checks: Record<string, Check> = {
    notifications: serviceReady(config.NOTIFICATIONS_URL),
    'file-processing': serviceReady(config.FILES_URL),
    jobs: serviceReady(config.JOBS_URL),
    idme: serviceReady(config.IDME_URL),
    redis: async () => {
      await redis.ping();
    },
  };
  config.REALTIME_URLS.forEach((url, i) => {
    checks[config.REALTIME_URLS.length === 1 ? 'realtime' : `realtime-${i + 1}`] = serviceReady(url);
  });
  const workers = {
    'notifications-worker': config.NOTIFICATIONS_WORKER_URL,
    'file-processing-worker': config.FILES_WORKER_URL,
    'jobs-worker': config.JOBS_WORKER_URL,
  };
  for (const [name, url] of Object.entries(workers)) if (url) checks[name] = serviceReady(url);
  if (config.DATABASE_URL) checks.postgres = () => postgresAnswers(config.DATABASE_URL!);
  if (config.AMQP_URL) checks.rabbitmq = () => rabbitmqAnswers(config.AMQP_URL!);
  if (config.FILE_STORAGE_ENDPOINT) checks.s3 = () => s3Answers(config.FILE_STORAGE_ENDPOINT!);
  if (config.FILE_CLAMD_HOST) checks.clamd = () => clamdAnswers(config.FILE_CLAMD_HOST!, config.FILE_CLAMD_PORT);
  return checks;
}
