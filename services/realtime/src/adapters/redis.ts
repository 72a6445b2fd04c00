import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '@nself/logging';

export type { Redis } from 'ioredis';

/** An ioredis client that logs (rather than throws) connection trouble and keeps reconnecting. */
export function createRedis(url: string, logger: Logger, name: string, options: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** Math.min(attempt, 6)),
    ...options,
  });
  let lastWarn = 0;
  redis.on('error', (error: Error) => {
    // One line per 5 s at most while Redis is away.
    if (Date.now() - lastWarn > 5000) {
      lastWarn = Date.now();
      logger.warn({ err: error, client: name }, 'redis error');
    }
  });
  return redis;
}

/** Readiness check. */
export async function checkRedis(redis: Redis): Promise<void> {
  const pong = await redis.ping();
  if (pong !== 'PONG') throw new Error(`unexpected PING reply ${pong}`);
}

/** Closes politely, then hard. */
export async function closeRedis(redis: Redis): Promise<void> {
  try {
    await Promise.race([redis.quit(), new Promise((r) => setTimeout(r, 1000))]);
  } catch {
    // already closed
  }
  redis.disconnect();
}
