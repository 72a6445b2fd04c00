import { PassThrough } from 'node:stream';
import type { ObjectStore } from '../adapters/s3.js';
import { startPgDump } from '../adapters/pg-dump.js';
import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { PermanentJobError, RetryableJobError } from '../job-errors.js';
import { parserFor } from './parse.js';
import type { JobHandler } from './types.js';

export interface BackupSettings {
  store?: ObjectStore;
  bucket?: string;
  databaseUrl: string;
  prefix: string;
  retentionCount: number;
  pgDumpPath: string;
}

/**
 * pg_dump streamed straight into S3 (multipart; nothing on local disk), then retention: only the newest
 * `retentionCount` backups under the prefix are kept. A dump that fails midway is deleted, never kept.
 */
export function databaseBackupHandler(settings: BackupSettings): JobHandler<JobPayloads['database-backup']> {
  return {
    parse: parserFor(builtinPayloadSchemas['database-backup']),
    async run(payload, ctx) {
      const { store, bucket } = settings;
      if (!store || !bucket) throw new PermanentJobError('STORAGE_NOT_CONFIGURED', 'set JOBS_S3_ENDPOINT and JOBS_S3_BUCKET');
      const prefix = (payload.prefix ?? settings.prefix).replace(/^\/+|\/+$/g, '');
      const keep = payload.retentionCount ?? settings.retentionCount;
      const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
      const extension = payload.format === 'custom' ? 'dump' : 'sql';
      const key = `${prefix}/${stamp}-${ctx.jobId.slice(-12)}.${extension}`;
      const started = Date.now();

      const dump = startPgDump(settings.pgDumpPath, settings.databaseUrl, payload.format);
      let bytes = 0;
      const counted = new PassThrough();
      counted.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
      });
      dump.stdout.pipe(counted);
      const onAbort = () => dump.kill();
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      const uploading = store.upload(
        bucket,
        key,
        counted,
        payload.format === 'custom' ? 'application/octet-stream' : 'application/sql',
        ctx.signal,
      );
      try {
        const [dumpResult, uploadResult] = await Promise.allSettled([dump.done, uploading]);
        if (dumpResult.status === 'rejected' || uploadResult.status === 'rejected') {
          await store.remove(bucket, [key]).catch(() => undefined);
          if (ctx.signal.aborted) throw ctx.signal.reason as Error;
          const reason = dumpResult.status === 'rejected' ? dumpResult.reason : (uploadResult as PromiseRejectedResult).reason;
          throw new RetryableJobError('BACKUP_FAILED', reason instanceof Error ? reason.message : String(reason));
        }
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
      }

      const existing = await store.list(bucket, `${prefix}/`, 100_000, ctx.signal);
      const backups = existing
        .filter((o) => o.Key && /\.(dump|sql)$/.test(o.Key))
        .sort((a, b) => (a.Key! < b.Key! ? 1 : -1));
      const expired = backups.slice(keep).map((o) => o.Key!);
      const deleted = expired.length ? await store.remove(bucket, expired) : 0;
      return { bucket, key, bytes, durationMs: Date.now() - started, kept: Math.min(backups.length, keep), deleted, deletedKeys: expired };
    },
  };
}
