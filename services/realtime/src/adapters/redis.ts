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

const corked = new WeakSet<object>();

/**
 * Holds the client's writes until the event loop's check phase, then sends them in one write: the
 * commands issued while one poll phase's events are handled leave together. One write per command
 * wakes Redis (and switches this process out) once per message; ioredis' auto-pipelining batches the
 * same way but builds a Pipeline per batch. Measured (bench/realtime, 3,000 clients direct, two A/B
 * pairs): replica context switches 12,100–12,200 instead of 15,900–21,600 per 10 s, Redis CPU 309–356
 * instead of 380–410 ms per 5 s.
 */
export function corkUntilCheckPhase(redis: Redis): void {
  const stream = redis.stream as { cork(): void; uncork(): void; writable: boolean } | undefined;
  if (!stream?.writable || corked.has(stream)) return;
  corked.add(stream);
  stream.cork();
  setImmediate(() => {
    corked.delete(stream);
    stream.uncork();
  });
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
