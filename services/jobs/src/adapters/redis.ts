import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole = 'producer' | 'worker' | 'subscriber' | 'cache';

/**
 * ioredis connections by role. Producers fail fast (no offline queue: an API request errors at once
 * while Redis is down instead of hanging); workers retry forever (`maxRetriesPerRequest: null`, which
 * BullMQ requires for its blocking commands).
 */
export function createRedis(url: string, role: RedisRole, name = 'nself-jobs'): Redis {
  const common: RedisOptions = {
    connectionName: `${name}-${role}`,
    retryStrategy: (times) => Math.min(5000, 100 * 2 ** Math.min(times, 6)),
  };
  const byRole: Record<RedisRole, RedisOptions> = {
    producer: { enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    worker: { maxRetriesPerRequest: null, enableReadyCheck: true },
    // A subscribed connection may not send INFO, which the ready check uses.
    subscriber: { maxRetriesPerRequest: null, enableReadyCheck: false },
    cache: { maxRetriesPerRequest: 2, lazyConnect: true },
  };
  return new Redis(url, { ...common, ...byRole[role] });
}

/** Resolves once the connection is ready (a fail-fast producer cannot send anything before). */
export function redisReady(redis: Redis, timeoutMs = 10_000): Promise<void> {
  if (redis.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
