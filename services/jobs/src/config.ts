import { authConfigFromEnv, authEnv, type AuthConfig } from '@nself/auth';
import { commonEnv, ConfigError, env, loadConfig } from '@nself/config';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Every variable the jobs service reads (API, worker and CLI share it). Defaults match .env.example. */
export const jobsEnvSchema = z
  .object({
    ...commonEnv,
    ...authEnv,
    DATABASE_URL: z.string().min(1),
    REDIS_URL: env.optionalString(),
    JOBS_REDIS_URL: env.optionalString(),
    REDIS_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_:.-]{1,64}$/).default('nself'),
    AMQP_URL: env.optionalString(),
    EVENTS_EXCHANGE: z.string().min(1).default('nself.events'),

    JOBS_PORT: env.port(3105),
    JOBS_WORKER_PORT: env.port(3115),
    JOBS_QUEUES: env.list('default').pipe(z.array(z.string().regex(QUEUE_NAME, 'queue names are 1-64 of A-Z a-z 0-9 _ -')).min(1)),
    JOBS_DEFAULT_QUEUE: env.optionalString(),
    JOBS_WORKER_QUEUES: env.list(''),

    JOBS_DEFAULT_CONCURRENCY: env.int(10, 1),
    JOBS_RETRY_ATTEMPTS: env.int(3, 1),
    JOBS_RETRY_DELAY: env.int(5000, 0),
    JOBS_JOB_TIMEOUT: env.int(60000, 1),
    JOBS_MAX_JOB_TIMEOUT: env.int(3_600_000, 1),
    JOBS_STALLED_INTERVAL: env.int(30000, 100),
    JOBS_LOCK_DURATION: env.int(30000, 100),
    JOBS_MAX_STALLED_COUNT: env.int(1, 0),
    JOBS_KEEP_COMPLETED_SECONDS: env.int(86400, 0),
    JOBS_KEEP_COMPLETED_COUNT: env.int(10000, 0),
    JOBS_KEEP_FAILED_SECONDS: env.int(604800, 0),
    JOBS_MAX_PAYLOAD_BYTES: env.int(262144, 1024),

    JOBS_MIRROR_FLUSH_MS: env.int(100, 1),
    JOBS_MIRROR_BATCH_SIZE: env.int(1000, 1),
    JOBS_MIRROR_MAX_BUFFER: env.int(100000, 100),
    JOBS_COMPLETED_EVENTS: env.bool(false),

    JOBS_DASHBOARD_ENABLED: env.bool(true),
    JOBS_DASHBOARD_BASE_PATH: z.string().regex(/^\/[A-Za-z0-9/_-]*$/).default('/jobs/dashboard'),
    JOBS_DASHBOARD_USER: env.optionalString(),
    JOBS_DASHBOARD_PASSWORD: env.optionalString().pipe(z.string().min(12).optional()),
    JOBS_OPERATOR_ACCOUNTS: env.list('primary'),

    JOBS_HTTP_ALLOWED_HOSTS: env.list(''),
    JOBS_HTTP_ALLOWED_CIDRS: env
      .list('')
      .pipe(
        z.array(
          z.string().refine((c) => (c.includes('/') ? ipaddr.isValidCIDR(c) : ipaddr.isValid(c)), 'must be IP addresses or CIDR ranges'),
        ),
      ),
    JOBS_HTTP_TIMEOUT: env.int(30000, 1),
    JOBS_HTTP_MAX_RESPONSE_BYTES: env.int(1_048_576, 1),
    JOBS_HTTP_MAX_REDIRECTS: env.int(5, 0),
    JOBS_DNS_SERVERS: env.list(''),

    JOBS_NOTIFICATIONS_URL: env.optionalString(),
    JOBS_NOTIFICATIONS_ADMIN_SECRET: env.optionalString(),

    JOBS_S3_ENDPOINT: env.optionalString(),
    JOBS_S3_REGION: z.string().min(1).default('us-east-1'),
    JOBS_S3_BUCKET: env.optionalString(),
    JOBS_S3_ACCESS_KEY: env.optionalString(),
    JOBS_S3_SECRET_KEY: env.optionalString(),
    JOBS_S3_FORCE_PATH_STYLE: env.bool(true),
    JOBS_BACKUP_DATABASE_URL: env.optionalString(),
    JOBS_BACKUP_PREFIX: z.string().default('backups/postgres'),
    JOBS_BACKUP_RETENTION_COUNT: env.int(7, 1),
    JOBS_PG_DUMP_PATH: z.string().min(1).default('pg_dump'),

    JOBS_CACHE_REDIS_URL: env.optionalString(),
    JOBS_CACHE_KEY_PREFIX: z.string().min(1).default('cache:{account}:'),
  })
  // Cross-field rules; `when` makes them report together with the per-variable problems.
  .superRefine(
    (value, ctx) => {
      if (!value.JOBS_REDIS_URL && !value.REDIS_URL) {
        ctx.addIssue({ code: 'custom', path: ['JOBS_REDIS_URL'], message: 'is required (or set REDIS_URL)' });
      }
      if (!value.JWT_SECRET && !value.JWT_JWKS_URL) {
        ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required (or set JWT_JWKS_URL)' });
      }
      if (Boolean(value.JOBS_DASHBOARD_USER) !== Boolean(value.JOBS_DASHBOARD_PASSWORD)) {
        ctx.addIssue({
          code: 'custom',
          path: ['JOBS_DASHBOARD_PASSWORD'],
          message: 'JOBS_DASHBOARD_USER and JOBS_DASHBOARD_PASSWORD must be set together',
        });
      }
    },
    { when: () => true },
  );

export type JobsEnv = z.output<typeof jobsEnvSchema>;

export interface JobsConfig {
  logLevel: string;
  nodeEnv: string;
  shutdownTimeoutMs: number;
  databaseUrl: string;
  redisUrl: string;
  /** Prefix of every BullMQ key: `${REDIS_KEY_PREFIX}:jobs`. */
  bullPrefix: string;
  redisKeyPrefix: string;
  amqpUrl?: string;
  eventsExchange: string;
  auth: AuthConfig;
  port: number;
  workerPort: number;
  queues: string[];
  defaultQueue: string;
  workerQueues: string[];
  concurrency: number;
  retryAttempts: number;
  retryDelayMs: number;
  jobTimeoutMs: number;
  maxJobTimeoutMs: number;
  stalledIntervalMs: number;
  lockDurationMs: number;
  maxStalledCount: number;
  keepCompleted: { age: number; count: number };
  keepFailed: { age: number };
  maxPayloadBytes: number;
  mirror: { flushMs: number; batchSize: number; maxBuffer: number };
  completedEvents: boolean;
  dashboard: {
    enabled: boolean;
    basePath: string;
    basicAuth?: { user: string; password: string };
    operatorAccounts: string[];
  };
  http: {
    allowedHosts: string[];
    allowedCidrs: string[];
    timeoutMs: number;
    maxResponseBytes: number;
    maxRedirects: number;
    dnsServers: string[];
  };
  notifications: { url?: string; adminSecret?: string };
  s3: {
    endpoint?: string;
    region: string;
    bucket?: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    forcePathStyle: boolean;
  };
  backup: { databaseUrl: string; prefix: string; retentionCount: number; pgDumpPath: string };
  cache: { redisUrl: string; keyPrefix: string };
}

export function toJobsConfig(e: JobsEnv): JobsConfig {
  const redisUrl = (e.JOBS_REDIS_URL ?? e.REDIS_URL)!;
  const queues = [...new Set(e.JOBS_QUEUES)];
  const defaultQueue = e.JOBS_DEFAULT_QUEUE ?? queues[0]!;
  if (!queues.includes(defaultQueue)) {
    throw new ConfigError([{ variable: 'JOBS_DEFAULT_QUEUE', problem: 'must be one of JOBS_QUEUES' }]);
  }
  const workerQueues = e.JOBS_WORKER_QUEUES.length ? e.JOBS_WORKER_QUEUES : queues;
  const unknown = workerQueues.filter((q) => !queues.includes(q));
  if (unknown.length) {
    throw new ConfigError([{ variable: 'JOBS_WORKER_QUEUES', problem: 'must only name queues of JOBS_QUEUES' }]);
  }
  return {
    logLevel: e.LOG_LEVEL,
    nodeEnv: e.NODE_ENV,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    databaseUrl: e.DATABASE_URL,
    redisUrl,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    bullPrefix: `${e.REDIS_KEY_PREFIX}:jobs`,
    amqpUrl: e.AMQP_URL,
    eventsExchange: e.EVENTS_EXCHANGE,
    auth: authConfigFromEnv(e),
    port: e.JOBS_PORT,
    workerPort: e.JOBS_WORKER_PORT,
    queues,
    defaultQueue,
    workerQueues,
    concurrency: e.JOBS_DEFAULT_CONCURRENCY,
    retryAttempts: e.JOBS_RETRY_ATTEMPTS,
    retryDelayMs: e.JOBS_RETRY_DELAY,
    jobTimeoutMs: e.JOBS_JOB_TIMEOUT,
    maxJobTimeoutMs: Math.max(e.JOBS_MAX_JOB_TIMEOUT, e.JOBS_JOB_TIMEOUT),
    stalledIntervalMs: e.JOBS_STALLED_INTERVAL,
    lockDurationMs: e.JOBS_LOCK_DURATION,
    maxStalledCount: e.JOBS_MAX_STALLED_COUNT,
    keepCompleted: { age: e.JOBS_KEEP_COMPLETED_SECONDS, count: e.JOBS_KEEP_COMPLETED_COUNT },
    keepFailed: { age: e.JOBS_KEEP_FAILED_SECONDS },
    maxPayloadBytes: e.JOBS_MAX_PAYLOAD_BYTES,
    mirror: { flushMs: e.JOBS_MIRROR_FLUSH_MS, batchSize: e.JOBS_MIRROR_BATCH_SIZE, maxBuffer: e.JOBS_MIRROR_MAX_BUFFER },
    completedEvents: e.JOBS_COMPLETED_EVENTS,
    dashboard: {
      enabled: e.JOBS_DASHBOARD_ENABLED,
      basePath: e.JOBS_DASHBOARD_BASE_PATH.replace(/\/+$/, '') || '/',
      basicAuth:
        e.JOBS_DASHBOARD_USER && e.JOBS_DASHBOARD_PASSWORD
          ? { user: e.JOBS_DASHBOARD_USER, password: e.JOBS_DASHBOARD_PASSWORD }
          : undefined,
      operatorAccounts: e.JOBS_OPERATOR_ACCOUNTS,
    },
    http: {
      allowedHosts: e.JOBS_HTTP_ALLOWED_HOSTS.map((h) => h.toLowerCase()),
      allowedCidrs: e.JOBS_HTTP_ALLOWED_CIDRS,
      timeoutMs: e.JOBS_HTTP_TIMEOUT,
      maxResponseBytes: e.JOBS_HTTP_MAX_RESPONSE_BYTES,
      maxRedirects: e.JOBS_HTTP_MAX_REDIRECTS,
      dnsServers: e.JOBS_DNS_SERVERS,
    },
    notifications: {
      url: e.JOBS_NOTIFICATIONS_URL?.replace(/\/+$/, ''),
      adminSecret: e.JOBS_NOTIFICATIONS_ADMIN_SECRET ?? e.ADMIN_SECRET,
    },
    s3: {
      endpoint: e.JOBS_S3_ENDPOINT,
      region: e.JOBS_S3_REGION,
      bucket: e.JOBS_S3_BUCKET,
      accessKeyId: e.JOBS_S3_ACCESS_KEY,
      secretAccessKey: e.JOBS_S3_SECRET_KEY,
      forcePathStyle: e.JOBS_S3_FORCE_PATH_STYLE,
    },
    backup: {
      databaseUrl: e.JOBS_BACKUP_DATABASE_URL ?? e.DATABASE_URL,
      prefix: e.JOBS_BACKUP_PREFIX.replace(/^\/+|\/+$/g, ''),
      retentionCount: e.JOBS_BACKUP_RETENTION_COUNT,
      pgDumpPath: e.JOBS_PG_DUMP_PATH,
    },
    cache: { redisUrl: e.JOBS_CACHE_REDIS_URL ?? redisUrl, keyPrefix: e.JOBS_CACHE_KEY_PREFIX },
  };
}

/** Parses process.env once; throws ConfigError naming the offending variables (never their values). */
export function loadJobsConfig(source: NodeJS.ProcessEnv = process.env): JobsConfig {
  return toJobsConfig(loadConfig(jobsEnvSchema, source));
}
