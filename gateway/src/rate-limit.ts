import type { RequestHandler } from 'express';
import { rateLimit, type IncrementResponse, type Options, type Store } from 'express-rate-limit';
import type { Redis } from 'ioredis';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import { Errors, sendProblem } from '@nself/errors';
import type { Logger } from '@nself/logging';

/**
 * Lets requests through while Redis is unreachable (availability first) and logs that at most once
 * every 10 s instead of once per request; /ready reports the Redis failure.
 */
class FailOpenStore implements Store {
  private lastWarning = 0;
  private windowMs = 60_000;

  constructor(
    private readonly inner: RedisStore,
    private readonly logger: Logger,
  ) {}

  get prefix(): string {
    return this.inner.prefix;
  }

  init(options: Options): void {
    this.windowMs = options.windowMs;
    this.inner.init(options);
  }

  async increment(key: string): Promise<IncrementResponse> {
    try {
      return await this.inner.increment(key);
    } catch (error) {
      if (Date.now() - this.lastWarning > 10_000) {
        this.lastWarning = Date.now();
        this.logger.warn({ err: error }, 'rate limiting is off: Redis is unreachable');
      }
      // Counted as the first hit of a fresh window: within every limit.
      return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
    }
  }

  async decrement(key: string): Promise<void> {
    await this.inner.decrement(key).catch(() => undefined);
  }

  async resetKey(key: string): Promise<void> {
    await this.inner.resetKey(key).catch(() => undefined);
  }
}

/** Fixed-window limit per client address, shared by every gateway replica through Redis. */
export function redisRateLimit(options: {
  redis: Redis;
  logger: Logger;
  keyPrefix: string;
  limit: number;
  windowMs: number;
}): RequestHandler {
  const inner = new RedisStore({
    prefix: `${options.keyPrefix}:gateway:rl:`,
    sendCommand: (command: string, ...args: string[]) => options.redis.call(command, ...args) as Promise<RedisReply>,
  });
  // rate-limit-redis loads its Lua scripts in the constructor; while Redis is unreachable that promise
  // rejects unobserved, which would end the process. The store reloads them on its next use anyway.
  const scripts = inner as unknown as { incrementScriptSha: Promise<string>; getScriptSha: Promise<string> };
  scripts.incrementScriptSha.catch(() => undefined);
  scripts.getScriptSha.catch(() => undefined);

  return rateLimit({
    windowMs: options.windowMs,
    limit: options.limit,
    standardHeaders: 'draft-7',
    legacyHeaders: false,
    store: new FailOpenStore(inner, options.logger),
    handler: (req, res, _next, limitOptions) => {
      const resetTime = (req as unknown as { rateLimit?: { resetTime?: Date } }).rateLimit?.resetTime;
      const retryAfter = resetTime ? (resetTime.getTime() - Date.now()) / 1000 : limitOptions.windowMs / 1000;
      sendProblem(res, Errors.tooManyRequests(retryAfter), req.originalUrl.split('?')[0]);
    },
  });
}
