import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import type { FileRecord, JobRecord, ScanRecord, ThumbnailRecord } from '../adapters/repository.js';
import { CONTENT_TYPES, FILE_STATUS } from '../domain.js';
import { canAccess, loadAccessibleFile, type ServiceDeps } from './deps.js';

export interface LinkView {
  url: string;
  expiresAt: string;
}

export interface FileView {
  id: string;
  ownerId: string | null;
  originalName: string | null;
  mimeType: string;
  declaredMimeType: string | null;
  sizeBytes: number;
  sha256: string;
  status: string;
  quarantined: boolean;
  width: number | null;
  height: number | null;
  format: string | null;
  pages: number | null;
  durationMs: number | null;
  exif: unknown;
  createdAt: string;
  updatedAt: string;
  scan: { status: string; engine: string; signature: string | null; error: string | null; scannedAt: string } | null;
  job: JobView | null;
  /** The metadata-free optimized copy when there is one, otherwise the original. Null unless ready. */
  download: LinkView | null;
  original: LinkView | null;
  optimized: (LinkView & { sizeBytes: number | null }) | null;
  poster: LinkView | null;
  thumbnails: {
    size: string;
    format: string;
    width: number;
    height: number;
    sizeBytes: number;
    contentType: string;
    url: string | null;
  }[];
  urlsExpireAt: string | null;
}

export interface JobView {
  id: string;
  fileId: string;
  status: string;
  attempts: number;
  errorCode: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

export function jobView(job: JobRecord): JobView {
  return {
    id: job.id,
    fileId: job.fileId,
    status: job.status,
    attempts: job.attempts,
    errorCode: job.errorCode,
    error: job.error,
    createdAt: job.createdAt.toISOString(),
    startedAt: job.startedAt?.toISOString() ?? null,
    completedAt: job.completedAt?.toISOString() ?? null,
  };
}

function extensionOf(key: string): string {
  const match = /\.([a-z0-9]{1,5})$/i.exec(key);
  return match ? match[1]!.toLowerCase() : 'bin';
}

function downloadName(file: FileRecord, key: string): string {
  const base = (file.originalName ?? file.id).replace(/\.[^.]{1,5}$/, '');
  return `${base}.${extensionOf(key)}`;
}

/** Only files that are processed (and, with scanning on, scanned clean) get URLs; never quarantined ones. */
export function isServable(file: FileRecord): boolean {
  return file.status === FILE_STATUS.ready && !file.quarantined && !file.deletedAt;
}

export async function buildFileView(
  deps: ServiceDeps,
  file: FileRecord,
  related: { thumbnails: ThumbnailRecord[]; scan: ScanRecord | null; job: JobRecord | null },
  expiresInSeconds: number,
): Promise<FileView> {
  const servable = isServable(file);
  const expiresAt = new Date(Date.now() + expiresInSeconds * 1000).toISOString();
  const link = async (key: string, contentType?: string, name?: string): Promise<LinkView> => ({
    url: await deps.storage.presignGet(key, { expiresInSeconds, contentType, downloadName: name }),
    expiresAt,
  });
  const original = servable ? await link(file.objectKey, file.mimeType, downloadName(file, file.objectKey)) : null;
  const optimized =
    servable && file.optimizedKey
      ? {
          ...(await link(file.optimizedKey, CONTENT_TYPES[extensionOf(file.optimizedKey).replace('jpg', 'jpeg')], downloadName(file, file.optimizedKey))),
          sizeBytes: file.optimizedBytes != null ? Number(file.optimizedBytes) : null,
        }
      : null;
  const poster = servable && file.posterKey ? await link(file.posterKey, 'image/jpeg') : null;
  const thumbnails = await Promise.all(
    related.thumbnails.map(async (t) => ({
      size: t.sizeLabel,
      format: t.format,
      width: t.width,
      height: t.height,
      sizeBytes: t.sizeBytes,
      contentType: CONTENT_TYPES[t.format] ?? 'application/octet-stream',
      url: servable ? (await link(t.objectKey, CONTENT_TYPES[t.format])).url : null,
    })),
  );
  return {
    id: file.id,
    ownerId: file.ownerId,
    originalName: file.originalName,
    mimeType: file.mimeType,
    declaredMimeType: file.declaredMimeType,
    sizeBytes: Number(file.sizeBytes),
    sha256: file.sha256,
    status: file.status,
    quarantined: file.quarantined,
    width: file.width,
    height: file.height,
    format: file.format,
    pages: file.pages,
    durationMs: file.durationMs,
    exif: file.exif,
    createdAt: file.createdAt.toISOString(),
    updatedAt: file.updatedAt.toISOString(),
    scan: related.scan
      ? {
          status: related.scan.status,
          engine: related.scan.engine,
          signature: related.scan.signature,
          error: related.scan.error,
          scannedAt: related.scan.scannedAt.toISOString(),
        }
      : null,
    job: related.job ? jobView(related.job) : null,
    download: optimized ? { url: optimized.url, expiresAt } : original,
    original,
    optimized,
    poster,
    thumbnails,
    urlsExpireAt: servable ? expiresAt : null,
  };
}

const viewQuery = z.object({
  expiresIn: z.coerce.number().int().min(60).max(604800).optional(),
});

/** GET /v1/files/:fileId — metadata, scan result, thumbnails and presigned URLs. */
export async function getFile(deps: ServiceDeps, principal: Principal, fileId: string, query: unknown): Promise<FileView> {
  const { expiresIn } = parseInput(viewQuery, query);
  const file = await loadAccessibleFile(deps, principal, fileId);
  const [thumbnails, scan, job] = await Promise.all([
    deps.repo.thumbnails(file.id),
    deps.repo.latestScan(file.id),
    deps.repo.latestJob(file.id),
  ]);
  return buildFileView(deps, file, { thumbnails, scan, job }, expiresIn ?? deps.config.links.expirySeconds);
}

const listQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  before: z.uuid().optional(),
  status: z.enum(['uploaded', 'processing', 'ready', 'infected', 'failed']).optional(),
  ownerId: z.string().min(1).max(255).optional(),
});

/** GET /v1/files — the caller's files, newest first (admins: every file of the account, or one owner's). */
export async function listFiles(deps: ServiceDeps, principal: Principal, query: unknown) {
  const q = parseInput(listQuery, query);
  if (!principal.isAdmin && !principal.userId) throw Errors.forbidden('A user token is required', 'USER_REQUIRED');
  const ownerId = principal.isAdmin ? q.ownerId : principal.userId!;
  const files = await deps.repo.listFiles({
    sourceAccountId: principal.sourceAccountId,
    ownerId,
    status: q.status,
    limit: q.limit,
    before: q.before,
  });
  return {
    files: files.map((f) => ({
      id: f.id,
      ownerId: f.ownerId,
      originalName: f.originalName,
      mimeType: f.mimeType,
      sizeBytes: Number(f.sizeBytes),
      status: f.status,
      quarantined: f.quarantined,
      width: f.width,
      height: f.height,
      createdAt: f.createdAt.toISOString(),
    })),
    next: files.length === q.limit ? files.at(-1)!.id : null,
  };
}

/**
 * Queues a processing run for a stored file (POST /v1/files/:id/process, CLI `process`). A run that
 * is already queued or running is returned instead of starting a second one.
 */
export async function requestProcessing(
  deps: ServiceDeps,
  file: FileRecord,
  requestId: string | null,
): Promise<{ fileId: string; jobId: string; existing: boolean }> {
  if (file.quarantined) throw Errors.conflict('FILE_QUARANTINED', 'The file is quarantined and is not processed again');
  const active = await deps.repo.findActiveJob(file.id);
  if (active) {
    // Re-adding is a no-op when the queue still holds it, and recovers it when the queue lost it.
    await deps.queue.enqueue({ jobId: active.id, fileId: file.id, sourceAccountId: file.sourceAccountId, requestId });
    return { fileId: file.id, jobId: active.id, existing: true };
  }
  const job = await deps.repo.createJob(file.sourceAccountId, file.id, requestId);
  try {
    await deps.queue.enqueue({ jobId: job.id, fileId: file.id, sourceAccountId: file.sourceAccountId, requestId });
  } catch (error) {
    await deps.repo.deleteJob(job.id);
    deps.logger.error({ err: error, fileId: file.id }, 'could not queue processing');
    throw Errors.unavailable('The processing queue is unavailable, try again', 'QUEUE_UNAVAILABLE');
  }
  return { fileId: file.id, jobId: job.id, existing: false };
}

export async function processFileRequest(deps: ServiceDeps, principal: Principal, fileId: string, requestId: string | null) {
  const file = await loadAccessibleFile(deps, principal, fileId);
  return requestProcessing(deps, file, requestId);
}

/** Every object key that belongs to a file (original, optimized copy, poster, thumbnails). */
export async function objectKeysOf(deps: Pick<ServiceDeps, 'repo'>, file: FileRecord): Promise<string[]> {
  const thumbnails = await deps.repo.thumbnails(file.id);
  return [file.objectKey, file.optimizedKey, file.posterKey, ...thumbnails.map((t) => t.objectKey)].filter(
    (k): k is string => Boolean(k),
  );
}

/** DELETE /v1/files/:fileId — the row is marked deleted, every object removed. */
export async function deleteFile(deps: ServiceDeps, principal: Principal, fileId: string): Promise<void> {
  const file = await loadAccessibleFile(deps, principal, fileId);
  await removeFile(deps, file);
}

export async function removeFile(deps: Pick<ServiceDeps, 'repo' | 'storage' | 'logger'>, file: FileRecord): Promise<void> {
  const keys = await objectKeysOf(deps, file);
  await deps.repo.markDeleted(file.id);
  try {
    await deps.storage.deleteMany(keys);
  } catch (error) {
    // The row is already marked deleted; `cleanup` removes objects no live row references.
    deps.logger.warn({ err: error, fileId: file.id }, 'objects of a deleted file could not be removed yet');
  }
}

/** GET /v1/jobs/:jobId */
export async function getJob(deps: ServiceDeps, principal: Principal, jobId: string): Promise<JobView> {
  const job = await deps.repo.findJob(principal.sourceAccountId, jobId);
  const file = job ? await deps.repo.getFile(job.fileId) : null;
  if (!job || !file || !canAccess(principal, file)) throw Errors.notFound('Job', 'JOB_NOT_FOUND');
  return jobView(job);
}

/** GET /v1/stats — the caller's account. */
export async function getStats(deps: ServiceDeps, sourceAccountId: string) {
  const [db, queue] = await Promise.all([
    deps.repo.stats(sourceAccountId),
    deps.queue.counts().catch(() => null),
  ]);
  return { sourceAccountId, ...db, queue };
}
