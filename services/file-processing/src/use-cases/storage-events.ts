import path from 'node:path';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import { isAllowedType, sniffType, SNIFF_BYTES } from '../adapters/sniff.js';
import { uuidv7, type FileRecord } from '../adapters/repository.js';
import { assertSafeKey } from '../adapters/storage.js';
import { requestProcessing, removeFile } from './files.js';
import type { ServiceDeps } from './deps.js';

// MinIO webhook payloads and S3 event notifications share the Records[] shape.
const recordSchema = z.object({
  eventName: z.string(),
  s3: z.object({
    bucket: z.object({ name: z.string() }),
    object: z.object({
      key: z.string(),
      size: z.number().optional(),
      contentType: z.string().optional(),
      userMetadata: z.record(z.string(), z.string()).optional(),
    }),
  }),
});
const payloadSchema = z.object({ Records: z.array(recordSchema).max(1000) });

/** Keys this service writes itself (originals and derivatives): their events are ignored. */
const OWN_KEY = /^[A-Za-z0-9_-]{1,64}\/[0-9a-f-]{36}\/(original\.[a-z0-9]+|optimized\.[a-z0-9]+|poster\.jpg|thumbnails\/.+)$/;

export interface StorageEventResult {
  accepted: { key: string; fileId: string; jobId: string }[];
  removed: { key: string; fileId: string }[];
  skipped: { key: string; reason: string }[];
}

/** S3 URL-encodes keys in notifications (form style: "+" is a space). */
export function decodeEventKey(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

function ownerFrom(metadata: Record<string, string> | undefined): string | null {
  if (!metadata) return null;
  for (const [name, value] of Object.entries(metadata)) {
    const n = name.toLowerCase().replace(/^x-amz-meta-/, '');
    if ((n === 'owner-id' || n === 'user-id') && value) return value.slice(0, 255);
  }
  return null;
}

/**
 * POST /v1/storage-events: objects written straight into the bucket (presigned PUTs, other tools)
 * are registered and processed like uploads; removed objects mark their file deleted.
 */
export async function handleStorageEvents(
  deps: ServiceDeps,
  body: unknown,
  options: { sourceAccountId: string; requestId: string | null },
): Promise<StorageEventResult> {
  const payload = parseInput(payloadSchema, body);
  const result: StorageEventResult = { accepted: [], removed: [], skipped: [] };
  for (const record of payload.Records) {
    const key = decodeEventKey(record.s3.object.key);
    const skip = (reason: string) => result.skipped.push({ key, reason });
    if (record.s3.bucket.name !== deps.storage.bucket) {
      skip('not the configured bucket');
      continue;
    }
    try {
      assertSafeKey(key);
    } catch {
      skip('unsafe key');
      continue;
    }
    if (OWN_KEY.test(key) || key.startsWith(deps.config.storage.quarantinePrefix)) {
      skip('written by this service');
      continue;
    }
    const existing = await deps.repo.findByKey(deps.storage.bucket, key);
    if (/ObjectRemoved/.test(record.eventName)) {
      if (existing && !existing.deletedAt) {
        await removeFile(deps, existing);
        result.removed.push({ key, fileId: existing.id });
      } else {
        skip('not registered');
      }
      continue;
    }
    if (!/ObjectCreated/.test(record.eventName)) {
      skip(`event ${record.eventName} ignored`);
      continue;
    }
    if (existing && !existing.deletedAt) {
      // Overwritten in place: process the new content.
      const queued = await requestProcessing(deps, existing, options.requestId);
      result.accepted.push({ key, fileId: existing.id, jobId: queued.jobId });
      continue;
    }
    const registered = await registerObject(deps, key, {
      sourceAccountId: options.sourceAccountId,
      ownerId: ownerFrom(record.s3.object.userMetadata),
      requestId: options.requestId,
    });
    if ('reason' in registered) skip(registered.reason);
    else result.accepted.push({ key, fileId: registered.file.id, jobId: registered.jobId });
  }
  return result;
}

/**
 * Registers an object that is already in the bucket (storage events, CLI `process <key>`): its type
 * is sniffed from its first bytes and checked like an upload's; the hash is computed by the worker.
 */
export async function registerObject(
  deps: ServiceDeps,
  key: string,
  options: { sourceAccountId: string; ownerId: string | null; requestId: string | null; enqueue?: boolean },
): Promise<{ file: FileRecord; jobId: string } | { reason: string }> {
  const head = await deps.storage.head(key);
  if (!head) return { reason: 'object not found' };
  if (head.size > deps.config.upload.maxSize) return { reason: `larger than FILE_MAX_SIZE (${head.size} bytes)` };
  if (head.size === 0) return { reason: 'empty object' };
  const sniffed = await sniffType(await deps.storage.getHead(key, SNIFF_BYTES));
  if (!isAllowedType(sniffed.mime, deps.config.upload.allowedTypes)) return { reason: `type ${sniffed.mime} not allowed` };
  const fileId = uuidv7();
  const jobId = uuidv7();
  let created;
  try {
    created = await deps.repo.createFileWithJob(
      {
        id: fileId,
        sourceAccountId: options.sourceAccountId,
        ownerId: options.ownerId ?? ownerFrom(head.metadata),
        bucket: deps.storage.bucket,
        objectKey: key,
        originalName: path.posix.basename(key).slice(0, 255) || null,
        mimeType: sniffed.mime,
        declaredMimeType: head.contentType ?? null,
        sizeBytes: head.size,
        sha256: '',
      },
      jobId,
      options.requestId,
    );
  } catch (error) {
    if ((error as { code?: string }).code === 'P2002') return { reason: 'already registered' };
    throw error;
  }
  if (options.enqueue === false) return { file: created.file, jobId };
  try {
    await deps.queue.enqueue({ jobId, fileId, sourceAccountId: options.sourceAccountId, requestId: options.requestId });
  } catch (error) {
    await deps.repo.deleteFileRow(fileId);
    deps.logger.error({ err: error, key }, 'could not queue processing of a stored object');
    throw Errors.unavailable('The processing queue is unavailable, try again', 'QUEUE_UNAVAILABLE');
  }
  return { file: created.file, jobId };
}
