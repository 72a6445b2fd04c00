import type { Redis } from 'ioredis';
import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { parserFor } from './parse.js';
import type { JobHandler } from './types.js';

const GLOB_SPECIAL = /[*?[\]\\]/g;

/** The app's cache namespace: JOBS_CACHE_KEY_PREFIX with {account} replaced, glob characters escaped. */
export function cacheNamespace(template: string, sourceAccountId: string): { literal: string; glob: string } {
  const literal = template.replaceAll('{account}', sourceAccountId);
  return { literal, glob: literal.replace(GLOB_SPECIAL, (c) => `\\${c}`) };
}

/** Deletes cache keys of the job's app only (SCAN + UNLINK in batches; never KEYS, never FLUSHDB). */
export function cacheClearHandler(deps: { redis: () => Redis; keyPrefix: string }): JobHandler<JobPayloads['cache-clear']> {
  return {
    parse: parserFor(builtinPayloadSchemas['cache-clear']),
    async run(payload, ctx) {
      const redis = deps.redis();
      const namespace = cacheNamespace(deps.keyPrefix, ctx.meta.sourceAccountId);
      let deleted = 0;
      if (payload.keys) {
        for (let i = 0; i < payload.keys.length; i += 500) {
          deleted += await redis.unlink(...payload.keys.slice(i, i + 500).map((k) => namespace.literal + k));
        }
      }
      if (payload.pattern) {
        let cursor = '0';
        do {
          if (ctx.signal.aborted) throw ctx.signal.reason as Error;
          const [next, keys] = await redis.scan(cursor, 'MATCH', namespace.glob + payload.pattern, 'COUNT', 1000);
          cursor = next;
          if (keys.length) deleted += await redis.unlink(...keys);
        } while (cursor !== '0');
      }
      return { deleted, namespace: namespace.literal };
    },
  };
}
