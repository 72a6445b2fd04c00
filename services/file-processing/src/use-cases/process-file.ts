import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import sharp from 'sharp';
import { probeImage, RASTER_TYPES, renderImage, type RenderedImage } from '../adapters/image.js';
import { pdfFirstPage, probeVideo, videoPoster } from '../adapters/media-tools.js';
import type { FileRecord, JobRecord, ProcessedFields, ThumbnailInput } from '../adapters/repository.js';
import type { ScanResult, VirusScanner } from '../adapters/scanner.js';
import { ObjectNotFoundError } from '../adapters/storage.js';
import { CONTENT_TYPES, FILE_STATUS, JOB_STATUS, keys, ProcessingError } from '../domain.js';
import type { PipelineDeps } from './deps.js';
import { quarantineFile } from './quarantine.js';

export interface RunContext {
  jobId: string;
  /** 1-based attempt number of this run. */
  attempt: number;
  maxAttempts: number;
  /** The outcome event of this job already went out (set by markPublished in an earlier run). */
  alreadyPublished: boolean;
  markPublished(): Promise<void>;
}

export type ProcessOutcome =
  | { outcome: 'processed'; thumbnails: number }
  | { outcome: 'infected'; signature: string }
  | { outcome: 'failed'; code: string; error: string }
  | { outcome: 'retry'; code: string; error: string }
  | { outcome: 'skipped'; reason: string };

const EVENT_TIMEOUT_MS = 15_000;

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function toProcessingError(error: unknown): ProcessingError {
  if (error instanceof ProcessingError) return error;
  if (error instanceof ObjectNotFoundError) {
    return new ProcessingError('OBJECT_MISSING', `The stored object ${error.key} does not exist`, false, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  // Anything else (storage, database, broker hiccups) is worth another attempt.
  return new ProcessingError('INTERNAL_ERROR', message.slice(0, 500), true, { cause: error });
}

function writeChunk(stream: Writable, chunk: Buffer): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  if (stream.write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}

/**
 * Copies the object to a local file (sharp, ffmpeg and poppler read files), hashing it and — when a
 * scanner is given — streaming the same bytes to clamd at the same time, so the scan costs no extra
 * read. Nothing is decoded before both have finished.
 */
async function downloadAndScan(
  deps: PipelineDeps,
  key: string,
  target: string,
  scanner: VirusScanner | null,
): Promise<{ sha256: string; size: number; scan?: ScanResult }> {
  const hash = createHash('sha256');
  let size = 0;
  const body = await deps.storage.getStream(key);
  const file = createWriteStream(target);
  const fileDone = finished(file);
  const toScanner = scanner ? new PassThrough({ highWaterMark: 1024 * 1024 }) : null;
  const scanning = scanner && toScanner ? scanner.scan(toScanner) : undefined;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      // The scanner may stop reading early (clamd refuses streams over its limit): the file goes on.
      await Promise.all([writeChunk(file, chunk), toScanner ? writeChunk(toScanner, chunk) : undefined]);
    }
  } catch (error) {
    file.destroy();
    toScanner?.destroy();
    await scanning?.catch(() => undefined);
    throw error;
  }
  file.end();
  toScanner?.end();
  await fileDone;
  return { sha256: hash.digest('hex'), size, scan: await scanning };
}

interface MediaResult {
  fields: ProcessedFields;
  thumbnails: RenderedImage[];
  optimized?: { data: Buffer; ext: string; format: string };
  poster?: Buffer;
}

/** Thumbnails (and what else applies) for one file by its sniffed type. */
export async function renderMedia(deps: PipelineDeps, file: FileRecord, local: string, workDir: string): Promise<MediaResult> {
  const { tools } = deps;
  const mime = file.mimeType;
  if (RASTER_TYPES.has(mime)) {
    const info = await probeImage(local, deps.image.maxPixels);
    const rendered = await renderImage(local, deps.image, info);
    // The optimized copy is kept when it is smaller, or when it is the only metadata-free full-size version.
    const keepOptimized =
      rendered.optimized &&
      (rendered.optimized.data.length < Number(file.sizeBytes) || info.hadMetadata || (info.orientation ?? 1) > 1);
    return {
      fields: { width: info.width, height: info.height, format: info.format, pages: info.pages, exif: info.exif },
      thumbnails: rendered.thumbnails,
      optimized: keepOptimized ? rendered.optimized : undefined,
    };
  }
  const fromFrame = async (frame: Buffer, fields: ProcessedFields): Promise<MediaResult> => {
    const options = { ...deps.image, optimize: false };
    const rendered = await renderImage(frame, options);
    const poster = await sharp(frame, { limitInputPixels: deps.image.maxPixels })
      .jpeg({ quality: 85, progressive: true })
      .toBuffer();
    return { fields, thumbnails: rendered.thumbnails, poster };
  };
  if (mime.startsWith('video/')) {
    if (!tools.ffmpeg.available || !tools.ffprobe.available) return { fields: {}, thumbnails: [] };
    const video = await probeVideo(toolPaths(deps), local);
    const frame = await videoPoster(toolPaths(deps), local, workDir, video.durationMs);
    return fromFrame(frame, { width: video.width ?? null, height: video.height ?? null, durationMs: video.durationMs ?? null, format: mime.split('/')[1] });
  }
  if (mime === 'application/pdf') {
    if (!tools.pdftoppm.available) return { fields: { format: 'pdf' }, thumbnails: [] };
    const largest = deps.image.sizes[0]!;
    const pdf = await pdfFirstPage(toolPaths(deps), local, workDir, Math.max(largest.width, largest.height), tools.pdfinfo.available);
    // A PDF's width/height are its first page's size in points (1/72 inch).
    return fromFrame(pdf.page, { format: 'pdf', pages: pdf.pages ?? null, width: pdf.widthPt ?? null, height: pdf.heightPt ?? null });
  }
  return { fields: {}, thumbnails: [] };
}

function toolPaths(deps: PipelineDeps) {
  const t = deps.tools;
  return {
    ffmpeg: t.ffmpeg.path,
    ffprobe: t.ffprobe.path,
    pdftoppm: t.pdftoppm.path,
    pdfinfo: t.pdfinfo.path,
    timeoutMs: deps.config.processing.tools.timeoutMs,
  };
}

/** Sends the outcome event of a finished job (again, after a crash between commit and send). */
async function publishOutcome(deps: PipelineDeps, job: JobRecord, file: FileRecord): Promise<void> {
  const meta = { sourceAccountId: file.sourceAccountId, userId: file.ownerId };
  if (job.status === JOB_STATUS.failed) {
    if (job.errorCode === 'FILE_DELETED') return;
    await deps.events.publish(
      'file.failed',
      { fileId: file.id, jobId: job.id, code: job.errorCode ?? 'INTERNAL_ERROR', error: job.error ?? '' },
      meta,
    );
  } else if (file.status === FILE_STATUS.infected) {
    const scan = await deps.repo.latestScan(file.id);
    await deps.events.publish('file.infected', { fileId: file.id, jobId: job.id, signature: scan?.signature ?? 'unknown' }, meta);
  } else if (file.status === FILE_STATUS.ready) {
    const thumbnails = (await deps.repo.thumbnails(file.id)).length;
    await deps.events.publish('file.processed', { fileId: file.id, jobId: job.id, thumbnails, mimeType: file.mimeType }, meta);
  }
}

/**
 * The pipeline for one job: download + virus scan (clamd INSTREAM) → quarantine if infected →
 * thumbnails / optimized copy / poster → results in one transaction → event. Safe to run again for
 * the same job (after a worker crash): keys are deterministic, results replace earlier ones, and the
 * job is completed (and its event sent) only once.
 */
export async function processFile(deps: PipelineDeps, ctx: RunContext): Promise<ProcessOutcome> {
  const job = await deps.repo.getJob(ctx.jobId);
  if (!job) return { outcome: 'skipped', reason: 'job not found' };
  const file = await deps.repo.getFile(job.fileId);
  const log = deps.logger.child({ jobId: job.id, fileId: job.fileId, attempt: ctx.attempt });

  if (job.status === JOB_STATUS.completed || job.status === JOB_STATUS.failed) {
    if (!ctx.alreadyPublished && file) {
      await withTimeout(publishOutcome(deps, job, file), EVENT_TIMEOUT_MS, 'event publish');
      await ctx.markPublished();
    }
    return { outcome: 'skipped', reason: `job already ${job.status}` };
  }
  if (!file || file.deletedAt) {
    await deps.repo.markJobFailed(job.id, ctx.attempt, 'FILE_DELETED', 'The file was deleted');
    return { outcome: 'skipped', reason: 'file deleted' };
  }
  if (!(await deps.repo.markJobRunning(job.id, ctx.attempt))) return { outcome: 'skipped', reason: 'job not runnable' };
  await deps.repo.setFileStatus(file.id, FILE_STATUS.processing);

  const meta = { sourceAccountId: file.sourceAccountId, userId: file.ownerId };
  const timer = (stage: string) => deps.metrics?.jobDuration.startTimer({ stage });
  const total = timer('total');
  const workDir = await mkdtemp(path.join(deps.config.processing.tmpDir, 'nself-file-'));
  try {
    const local = path.join(workDir, 'original');
    const downloadTimer = timer(deps.scanner ? 'download_scan' : 'download');
    const { sha256, size, scan } = await downloadAndScan(deps, file.objectKey, local, deps.scanner);
    downloadTimer?.();
    if (file.sha256 && file.sha256 !== sha256) log.warn('stored object changed since upload; recording its new hash');

    if (deps.scanner) {
      const result: ScanResult = scan ?? { status: 'error', error: 'no scan result', durationMs: 0 };
      deps.metrics?.scans.inc({ status: result.status });
      await deps.repo.recordScan({
        sourceAccountId: file.sourceAccountId,
        fileId: file.id,
        engine: deps.scanner.engine,
        status: result.status,
        signature: result.status === 'infected' ? result.signature : undefined,
        error: result.status === 'error' ? result.error : undefined,
        durationMs: result.durationMs,
      });
      if (result.status === 'error') {
        // Over clamd's StreamMaxLength, clamd away, timeouts: never "clean" — an error, retried.
        throw new ProcessingError('SCAN_FAILED', `The virus scan did not complete: ${result.error}`, true);
      }
      if (result.status === 'infected') {
        const moved = await quarantineFile(deps, file, { jobId: job.id, attempt: ctx.attempt });
        if (moved) {
          log.warn({ signature: result.signature }, 'infected file quarantined');
          deps.metrics?.jobs.inc({ result: 'infected' });
          await withTimeout(
            deps.events.publish('file.infected', { fileId: file.id, jobId: job.id, signature: result.signature }, meta),
            EVENT_TIMEOUT_MS,
            'event publish',
          );
          await ctx.markPublished();
        }
        return { outcome: 'infected', signature: result.signature };
      }
    }

    const renderTimer = timer('render');
    const media = await renderMedia(deps, file, local, workDir);
    renderTimer?.();

    const storeTimer = timer('store');
    const account = file.sourceAccountId;
    const thumbnails: ThumbnailInput[] = await Promise.all(
      media.thumbnails.map(async (t) => {
        const key = keys.thumbnail(account, file.id, t.label, t.format);
        await deps.storage.putBuffer(key, t.data, CONTENT_TYPES[t.format]!);
        deps.metrics?.thumbnails.inc({ format: t.format });
        return { sizeLabel: t.label, format: t.format, width: t.width, height: t.height, objectKey: key, sizeBytes: t.data.length };
      }),
    );
    const fields: ProcessedFields = { ...media.fields, sha256, sizeBytes: size };
    if (media.optimized) {
      const key = keys.optimized(account, file.id, media.optimized.ext);
      await deps.storage.putBuffer(key, media.optimized.data, CONTENT_TYPES[media.optimized.format] ?? file.mimeType);
      fields.optimizedKey = key;
      fields.optimizedBytes = media.optimized.data.length;
    }
    if (media.poster) {
      const key = keys.poster(account, file.id);
      await deps.storage.putBuffer(key, media.poster, 'image/jpeg');
      fields.posterKey = key;
    }
    storeTimer?.();

    const completed = await deps.repo.completeProcessing({
      jobId: job.id,
      attempt: ctx.attempt,
      file,
      status: FILE_STATUS.ready,
      fields,
      thumbnails,
    });
    if (!completed) {
      // Deleted meanwhile: what this run stored belongs to nobody. (Finished by another run instead: the
      // keys are the same ones that run stored and references, so they stay.)
      const current = await deps.repo.getFile(file.id);
      if (!current || current.deletedAt) {
        const written = [...thumbnails.map((t) => t.objectKey), fields.optimizedKey, fields.posterKey].filter((k): k is string => Boolean(k));
        await deps.storage.deleteMany(written).catch((err) => log.warn({ err }, 'could not remove outputs of a deleted file'));
      }
      return { outcome: 'skipped', reason: 'job finished elsewhere or file deleted' };
    }
    deps.metrics?.jobs.inc({ result: 'processed' });
    log.info({ thumbnails: thumbnails.length, mimeType: file.mimeType }, 'file processed');
    await withTimeout(
      deps.events.publish('file.processed', { fileId: file.id, jobId: job.id, thumbnails: thumbnails.length, mimeType: file.mimeType }, meta),
      EVENT_TIMEOUT_MS,
      'event publish',
    );
    await ctx.markPublished();
    return { outcome: 'processed', thumbnails: thumbnails.length };
  } catch (error) {
    const failure = toProcessingError(error);
    const final = !failure.retryable || ctx.attempt >= ctx.maxAttempts;
    if (!final) {
      log.warn({ err: error, code: failure.code }, 'processing attempt failed, will retry');
      deps.metrics?.jobs.inc({ result: 'retry' });
      await deps.repo.markJobRetrying(job.id, ctx.attempt, failure.code, failure.message);
      return { outcome: 'retry', code: failure.code, error: failure.message };
    }
    log.error({ err: error, code: failure.code }, 'processing failed');
    deps.metrics?.jobs.inc({ result: 'failed' });
    if (await deps.repo.failJobAndFile(job.id, ctx.attempt, failure.code, failure.message)) {
      await withTimeout(
        deps.events.publish('file.failed', { fileId: file.id, jobId: job.id, code: failure.code, error: failure.message }, meta),
        EVENT_TIMEOUT_MS,
        'event publish',
      ).catch((err) => log.warn({ err }, 'file.failed event not published'));
      await ctx.markPublished();
    }
    return { outcome: 'failed', code: failure.code, error: failure.message };
  } finally {
    total?.();
    await rm(workDir, { recursive: true, force: true });
  }
}
