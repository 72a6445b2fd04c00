import type { ObjectStore } from '../adapters/s3.js';
import { builtinPayloadSchemas, type JobPayloads } from '../contracts.js';
import { PermanentJobError } from '../job-errors.js';
import { parserFor } from './parse.js';
import type { JobHandler } from './types.js';

/** Deletes objects under a prefix that are older than a given age (temporary uploads, exports, …). */
export function fileCleanupHandler(settings: { store?: ObjectStore; bucket?: string }): JobHandler<JobPayloads['file-cleanup']> {
  return {
    parse: parserFor(builtinPayloadSchemas['file-cleanup']),
    async run(payload, ctx) {
      const bucket = payload.bucket ?? settings.bucket;
      if (!settings.store || !bucket) throw new PermanentJobError('STORAGE_NOT_CONFIGURED', 'set JOBS_S3_ENDPOINT and JOBS_S3_BUCKET');
      const cutoff = Date.now() - payload.olderThanSeconds * 1000;
      const objects = await settings.store.list(bucket, payload.prefix, payload.maxObjects, ctx.signal);
      const expired = objects.filter((o) => o.Key && o.LastModified && o.LastModified.getTime() < cutoff);
      const bytes = expired.reduce((sum, o) => sum + (o.Size ?? 0), 0);
      if (ctx.signal.aborted) throw ctx.signal.reason as Error;
      const deleted = payload.dryRun ? 0 : await settings.store.remove(bucket, expired.map((o) => o.Key!));
      return {
        bucket,
        prefix: payload.prefix,
        scanned: objects.length,
        matched: expired.length,
        deleted,
        bytes,
        dryRun: payload.dryRun,
      };
    },
  };
}
