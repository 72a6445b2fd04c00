import { commonEnv, env, loadConfig } from '@nself/config';
import { z } from 'zod';

const url = (fallback: string) => z.url().default(fallback);
const optionalUrl = () => env.optionalString().pipe(z.url().optional());

export const gatewayEnvSchema = z.object({
  ...commonEnv,
  GATEWAY_PORT: env.port(8080),
  GATEWAY_HOST: z.string().default('0.0.0.0'),
  /** Realtime replicas; several get cookie-sticky routing (Engine.IO long-polling needs it). */
  REALTIME_URLS: env.list('http://127.0.0.1:3101').pipe(z.array(z.url()).min(1)),
  NOTIFICATIONS_URL: url('http://127.0.0.1:3102'),
  FILES_URL: url('http://127.0.0.1:3104'),
  JOBS_URL: url('http://127.0.0.1:3105'),
  IDME_URL: url('http://127.0.0.1:3010'),
  // Worker processes (health ports); each is part of /ready when set.
  NOTIFICATIONS_WORKER_URL: optionalUrl(),
  FILES_WORKER_URL: optionalUrl(),
  JOBS_WORKER_URL: optionalUrl(),
  GATEWAY_CORS_ORIGINS: env.list(''),
  /** Declared request bodies above this are refused with 413 before reaching a service. */
  GATEWAY_BODY_LIMIT_BYTES: env.int(10 * 1024 * 1024, 1),
  GATEWAY_FILES_BODY_LIMIT_BYTES: env.int(110 * 1024 * 1024, 1),
  /** An upstream that sends nothing for this long gets a 504. */
  GATEWAY_TIMEOUT_MS: env.int(30_000, 100),
  GATEWAY_RATE_LIMIT: env.int(1200, 0),
  GATEWAY_RATE_WINDOW_MS: env.int(60_000, 100),
  /** Trust X-Forwarded-For from this many proxies in front of the gateway (0: use the socket address). */
  GATEWAY_TRUST_PROXY_HOPS: env.int(0, 0),
  REDIS_URL: z.url().default('redis://127.0.0.1:6379'),
  REDIS_KEY_PREFIX: z.string().default('nself'),
  // Infrastructure checked by /ready (each only when set).
  DATABASE_URL: optionalUrl(),
  AMQP_URL: optionalUrl(),
  FILE_STORAGE_ENDPOINT: optionalUrl(),
  FILE_CLAMD_HOST: env.optionalString(),
  FILE_CLAMD_PORT: env.int(3310, 1),
});

export type GatewayConfig = z.output<typeof gatewayEnvSchema>;

export function loadGatewayConfig(source: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return loadConfig(gatewayEnvSchema, source);
}
