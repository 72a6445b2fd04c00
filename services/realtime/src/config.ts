import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { commonEnv, ConfigError, env, loadConfig as parseEnv } from '@nself/config';
import { authConfigFromEnv, authEnv, type AuthConfig } from '@nself/auth';

export const DEFAULT_LOG_EVENTS =
  'connect,disconnect,room:join,room:leave,presence:update,auth:refresh,relay,' +
  'room:create,room:delete,member:add,member:update,member:remove,admin:disconnect';
export const DEFAULT_RELAY_EVENTS = 'file.*,job.*,notification.*,idme.*';

/** Every variable the realtime service reads (README and .env.example list the same set). */
export const realtimeEnvSchema = z.object({
  ...commonEnv,
  ...authEnv,
  REALTIME_PORT: env.port(3101),
  REALTIME_HOST: z.string().default('0.0.0.0'),
  REALTIME_INSTANCE_ID: env.optionalString(),
  DATABASE_URL: z.string().min(1),
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  REALTIME_REDIS_URL: env.optionalString(),
  REDIS_KEY_PREFIX: z.string().min(1).default('nself'),
  AMQP_URL: env.optionalString(),
  EVENTS_EXCHANGE: z.string().min(1).default('nself.events'),
  REALTIME_RELAY_EVENTS: env.list(DEFAULT_RELAY_EVENTS),
  REALTIME_RELAY_QUEUE: z.string().min(1).default('realtime.relay'),
  REALTIME_CORS_ORIGIN: env.list(''),
  REALTIME_MAX_CONNECTIONS: env.int(10000, 1),
  REALTIME_HEAP_GROWTH_PERCENT: env.int(50, 0).pipe(z.number().max(300)),
  REALTIME_PING_TIMEOUT: env.int(60000, 1000),
  REALTIME_PING_INTERVAL: env.int(25000, 1000),
  REALTIME_TRANSPORTS: env.list('websocket,polling').pipe(z.array(z.enum(['websocket', 'polling'])).min(1)),
  REALTIME_ALLOW_ANONYMOUS: env.bool(false),
  REALTIME_DISCONNECT_ON_TOKEN_EXPIRY: env.bool(true),
  REALTIME_MAX_PAYLOAD_BYTES: env.int(1_000_000, 1024),
  REALTIME_MAX_MESSAGE_BYTES: env.int(16_384, 64),
  REALTIME_MESSAGE_RATE: env.int(20, 1),
  REALTIME_MESSAGE_BURST: env.int(40, 1),
  REALTIME_EVENT_RATE: env.int(100, 1),
  REALTIME_EVENT_BURST: env.int(200, 1),
  REALTIME_MAX_ROOMS_PER_SOCKET: env.int(500, 1),
  REALTIME_HISTORY_SIZE: env.int(500, 0),
  REALTIME_HISTORY_TTL_SECONDS: env.int(3600, 1),
  REALTIME_TYPING_TIMEOUT_MS: env.int(3000, 100),
  REALTIME_AWAY_AFTER_MS: env.int(300_000, 1000),
  REALTIME_INSTANCE_HEARTBEAT_MS: env.int(400, 50),
  REALTIME_INSTANCE_TTL_MS: env.int(1500, 200),
  REALTIME_LOG_EVENTS: env.list(DEFAULT_LOG_EVENTS),
  REALTIME_DB_FLUSH_MS: env.int(1000, 10),
  REALTIME_DB_BUFFER_MAX: env.int(50_000, 100),
  REALTIME_CONNECTION_TOUCH_MS: env.int(60_000, 1000),
  REALTIME_CLEANUP_INTERVAL_MS: env.int(60_000, 1000),
  REALTIME_STALE_CONNECTION_SECONDS: env.int(300, 10),
  REALTIME_EVENT_RETENTION_DAYS: env.int(30, 1),
  REALTIME_CONNECTION_RETENTION_DAYS: env.int(7, 1),
});

export type RealtimeEnv = z.output<typeof realtimeEnvSchema>;

export interface RealtimeConfig {
  env: RealtimeEnv;
  port: number;
  host: string;
  instanceId: string;
  databaseUrl: string;
  redisUrl: string;
  /** REDIS_KEY_PREFIX + ":rt"; every Redis key and the adapter's pub/sub channels start with it. */
  keyPrefix: string;
  amqpUrl: string | undefined;
  auth: AuthConfig;
  corsOrigins: string[];
}

/** `requireAuth: false` is for the CLI, which verifies no tokens. */
export function configFromEnv(values: RealtimeEnv, options: { requireAuth?: boolean } = {}): RealtimeConfig {
  if (options.requireAuth !== false && !values.JWT_SECRET && !values.JWT_JWKS_URL) {
    throw new ConfigError([{ variable: 'JWT_SECRET', problem: 'is required (or JWT_JWKS_URL)' }]);
  }
  return {
    env: values,
    port: values.REALTIME_PORT,
    host: values.REALTIME_HOST,
    instanceId:
      values.REALTIME_INSTANCE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
    databaseUrl: values.DATABASE_URL,
    redisUrl: values.REALTIME_REDIS_URL ?? values.REDIS_URL,
    keyPrefix: `${values.REDIS_KEY_PREFIX}:rt`,
    amqpUrl: values.AMQP_URL,
    auth: authConfigFromEnv(values),
    corsOrigins: values.REALTIME_CORS_ORIGIN,
  };
}

/** Parses process.env once; a bad or missing variable throws ConfigError naming it. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env, options: { requireAuth?: boolean } = {}): RealtimeConfig {
  return configFromEnv(parseEnv(realtimeEnvSchema, source), options);
}
