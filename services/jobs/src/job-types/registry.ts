import type { Redis } from 'ioredis';
import type { ObjectStore } from '../adapters/s3.js';
import type { SafeHttpClient } from '../adapters/safe-http.js';
import type { JobsConfig } from '../config.js';
import { isBuiltinType, type BuiltinJobType, type JobPayloads } from '../contracts.js';
import { cacheClearHandler } from './cache-clear.js';
import { customHttpHandler, type CustomJobType } from './custom-http.js';
import { databaseBackupHandler } from './database-backup.js';
import { fileCleanupHandler } from './file-cleanup.js';
import { httpRequestHandler } from './http-request.js';
import { noopHandler } from './noop.js';
import { sendEmailHandler } from './send-email.js';
import type { JobHandler } from './types.js';

export interface CustomTypeLookup {
  findJobType(sourceAccountId: string, name: string): Promise<CustomJobType | null>;
}

export interface HandlerRegistry {
  /**
   * The handler for a job's type in its app; null when the type is neither built in nor registered.
   * Built-in types (and cached custom types) resolve synchronously.
   */
  resolve(type: string, sourceAccountId: string): JobHandler | null | Promise<JobHandler | null>;
}

export interface HandlerDeps {
  config: JobsConfig;
  http: SafeHttpClient;
  store?: ObjectStore;
  cacheRedis: () => Redis;
  customTypes: CustomTypeLookup;
  /** How long a custom type's registration is cached by a worker. */
  cacheTtlMs?: number;
}

export function createHandlerRegistry(deps: HandlerDeps): HandlerRegistry {
  const { config } = deps;
  const builtins: { [K in BuiltinJobType]: JobHandler<JobPayloads[K]> } = {
    noop: noopHandler(),
    'http-request': httpRequestHandler({ http: deps.http, timeoutMs: config.http.timeoutMs }),
    'send-email': sendEmailHandler({ ...config.notifications, timeoutMs: config.http.timeoutMs }),
    'database-backup': databaseBackupHandler({ store: deps.store, bucket: config.s3.bucket, ...config.backup }),
    'file-cleanup': fileCleanupHandler({ store: deps.store, bucket: config.s3.bucket }),
    'cache-clear': cacheClearHandler({ redis: deps.cacheRedis, keyPrefix: config.cache.keyPrefix }),
  };
  const ttl = deps.cacheTtlMs ?? 5000;
  const cache = new Map<string, { at: number; handler: JobHandler | null }>();

  return {
    resolve(type, sourceAccountId) {
      if (isBuiltinType(type)) return builtins[type] as unknown as JobHandler;
      const cacheKey = `${sourceAccountId}\u0000${type}`;
      const hit = cache.get(cacheKey);
      if (hit && Date.now() - hit.at < ttl) return hit.handler;
      return deps.customTypes.findJobType(sourceAccountId, type).then((registered) => {
        const handler = registered ? customHttpHandler(registered, deps.http) : null;
        cache.set(cacheKey, { at: Date.now(), handler });
        if (cache.size > 10_000) cache.delete(cache.keys().next().value!);
        return handler;
      });
    },
  };
}
