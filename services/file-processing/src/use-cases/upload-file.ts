import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable } from 'node:stream';
import busboy from 'busboy';
import type { Principal } from '@nself/auth';
import { AppError, Errors } from '@nself/errors';
import { isAllowedType, sniffType, SNIFF_BYTES } from '../adapters/sniff.js';
import { uuidv7 } from '../adapters/repository.js';
import { keys } from '../domain.js';
import type { ServiceDeps } from './deps.js';

/** Multipart framing around the file (boundaries, part headers, small fields) tolerated beyond FILE_MAX_SIZE. */
const MULTIPART_OVERHEAD = 64 * 1024;

export interface UploadResult {
  fileId: string;
  jobId: string | null;
  status: string;
  mimeType: string;
  sizeBytes: number;
  sha256: string;
  duplicate: boolean;
}

function tooLarge(maxSize: number): AppError {
  return Errors.payloadTooLarge(`The file is larger than the limit of ${maxSize} bytes`, 'FILE_TOO_LARGE');
}

/** A display name only: no directories, no control characters, bounded length. */
export function cleanFileName(name: string | undefined): string | null {
  if (!name) return null;
  const printable = [...name].filter((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f).join('');
  const base = path.posix.basename(printable.replace(/\\/g, '/')).trim();
  return base ? base.slice(0, 255) : null;
}

interface StoredUpload {
  key: string;
  mime: string;
  size: number;
  sha256: string;
  originalName: string | null;
  declaredMimeType: string | null;
}

/**
 * Streams one multipart file into storage. Memory stays bounded: the first few KB are held to sniff
 * the real type (magic bytes), then bytes flow through a sha256 and a byte counter straight into the
 * storage upload. Over FILE_MAX_SIZE, or a type outside FILE_ALLOWED_TYPES, aborts the upload: no
 * object and no row remain.
 */
async function storeFileStream(
  deps: ServiceDeps,
  stream: Readable & { truncated?: boolean },
  info: { filename?: string; mimeType?: string },
  target: { account: string; fileId: string; ownerId: string | null },
): Promise<StoredUpload> {
  const { maxSize, allowedTypes } = deps.config.upload;
  const iterator = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const headChunks: Buffer[] = [];
  let headLength = 0;
  let ended = false;
  while (headLength < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    headChunks.push(next.value);
    headLength += next.value.length;
  }
  const head = Buffer.concat(headChunks);
  if (!head.length) throw Errors.badRequest('EMPTY_FILE', 'The uploaded file is empty');
  if (head.length > maxSize || (ended && stream.truncated)) throw tooLarge(maxSize);

  const sniffed = await sniffType(head.subarray(0, SNIFF_BYTES));
  if (!isAllowedType(sniffed.mime, allowedTypes)) {
    throw Errors.unsupportedMediaType(
      `The file's content is ${sniffed.mime}, which is not an allowed type (${allowedTypes.join(', ')})`,
      'FILE_TYPE_NOT_ALLOWED',
    );
  }

  const hash = createHash('sha256');
  let size = 0;
  let limitError: AppError | undefined;
  async function* body(): AsyncGenerator<Buffer> {
    size += head.length;
    hash.update(head);
    yield head;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      size += next.value.length;
      if (size > maxSize) {
        limitError = tooLarge(maxSize);
        throw limitError;
      }
      hash.update(next.value);
      yield next.value;
    }
    if (stream.truncated) {
      limitError = tooLarge(maxSize);
      throw limitError;
    }
  }

  const key = keys.original(target.account, target.fileId, sniffed.ext);
  try {
    await deps.storage.putStream(key, Readable.from(body(), { objectMode: false }), {
      contentType: sniffed.mime,
      metadata: { 'file-id': target.fileId, ...(target.ownerId ? { 'owner-id': target.ownerId } : {}) },
    });
  } catch (error) {
    if (limitError) throw limitError;
    if (error instanceof AppError) throw error;
    deps.logger.error({ err: error, key }, 'storing the upload failed');
    throw Errors.unavailable('The file could not be stored, try again', 'STORAGE_UNAVAILABLE');
  }
  return {
    key,
    mime: sniffed.mime,
    size,
    sha256: hash.digest('hex'),
    originalName: cleanFileName(info.filename),
    declaredMimeType: info.mimeType && info.mimeType !== 'application/octet-stream' ? info.mimeType.slice(0, 255) : null,
  };
}

/** Reads the multipart request; resolves with the stored file once the whole form has been read. */
function receiveUpload(
  deps: ServiceDeps,
  req: IncomingMessage,
  target: { account: string; fileId: string; ownerId: string | null },
): Promise<StoredUpload> {
  const { maxSize } = deps.config.upload;
  return new Promise<StoredUpload>((resolve, reject) => {
    let settled = false;
    let fileSeen = false;
    let formDone = false;
    let stored: StoredUpload | undefined;
    let current: Readable | undefined;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      // Stop a store in progress (its upload is aborted) and remove a file already stored: a refused
      // request leaves no object behind.
      if (current && !current.destroyed) current.destroy(error instanceof Error ? error : new Error(String(error)));
      if (stored) {
        const key = stored.key;
        deps.storage.delete(key).catch((err) => deps.logger.warn({ err, key }, 'could not remove object of a refused upload'));
      }
      reject(error);
    };
    const maybeDone = () => {
      if (!settled && formDone && stored) {
        settled = true;
        resolve(stored);
      }
    };

    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        defParamCharset: 'utf8',
        limits: { files: 1, fileSize: maxSize + 1, fields: 20, fieldSize: 16 * 1024, parts: 40, headerPairs: 50 },
      });
    } catch {
      reject(Errors.badRequest('MALFORMED_MULTIPART', 'The multipart request is malformed (missing boundary?)'));
      return;
    }
    parser.on('file', (_field, stream, info) => {
      if (fileSeen) {
        stream.resume();
        return;
      }
      fileSeen = true;
      current = stream;
      storeFileStream(deps, stream, info, target).then(
        (result) => {
          stored = result;
          if (settled) {
            // The request was refused while this file was still being stored.
            deps.storage.delete(result.key).catch((err) => deps.logger.warn({ err, key: result.key }, 'could not remove object of a refused upload'));
            return;
          }
          maybeDone();
        },
        fail,
      );
    });
    parser.on('filesLimit', () => fail(Errors.badRequest('TOO_MANY_FILES', 'Send one file per request')));
    parser.on('error', (error) => {
      fail(Errors.badRequest('MALFORMED_MULTIPART', `The multipart body could not be read: ${(error as Error).message}`));
    });
    parser.on('close', () => {
      formDone = true;
      if (!fileSeen) fail(Errors.badRequest('FILE_REQUIRED', 'The form has no file part'));
      else maybeDone();
    });
    req.once('close', () => {
      if (!req.complete) {
        const aborted = Errors.badRequest('REQUEST_ABORTED', 'The upload was interrupted');
        current?.destroy(aborted);
        fail(aborted);
      }
    });
    req.pipe(parser);
  });
}

/**
 * POST /v1/files: stream the file to storage, record it and queue its processing. A file the same
 * owner already has (same sha256) is not stored twice: the existing record is returned.
 */
export async function uploadFile(
  deps: ServiceDeps,
  input: { principal: Principal; req: IncomingMessage; requestId: string | null },
): Promise<UploadResult> {
  const { principal, req } = input;
  const { maxSize } = deps.config.upload;
  const contentType = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw Errors.unsupportedMediaType('Upload the file as multipart/form-data', 'MULTIPART_REQUIRED');
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxSize + MULTIPART_OVERHEAD) {
    deps.metrics?.uploads.inc({ result: 'too_large' });
    throw tooLarge(maxSize);
  }

  const account = principal.sourceAccountId;
  const ownerId = principal.userId;
  const fileId = uuidv7();
  let stored: StoredUpload;
  try {
    stored = await receiveUpload(deps, req, { account, fileId, ownerId });
  } catch (error) {
    const code = error instanceof AppError ? error.code : 'ERROR';
    deps.metrics?.uploads.inc({
      result: code === 'FILE_TOO_LARGE' ? 'too_large' : code === 'FILE_TYPE_NOT_ALLOWED' ? 'type_not_allowed' : 'error',
    });
    throw error;
  }
  const removeObject = () =>
    deps.storage.delete(stored.key).catch((err) => deps.logger.warn({ err, key: stored.key }, 'could not remove object'));

  if (deps.config.upload.deduplicate) {
    const existing = await deps.repo.findDuplicate(account, ownerId, stored.sha256);
    if (existing) {
      await removeObject();
      const job = await deps.repo.latestJob(existing.id);
      deps.metrics?.uploads.inc({ result: 'duplicate' });
      return {
        fileId: existing.id,
        jobId: job?.id ?? null,
        status: existing.status,
        mimeType: existing.mimeType,
        sizeBytes: Number(existing.sizeBytes),
        sha256: existing.sha256,
        duplicate: true,
      };
    }
  }

  const jobId = uuidv7();
  let created;
  try {
    created = await deps.repo.createFileWithJob(
      {
        id: fileId,
        sourceAccountId: account,
        ownerId,
        bucket: deps.storage.bucket,
        objectKey: stored.key,
        originalName: stored.originalName,
        mimeType: stored.mime,
        declaredMimeType: stored.declaredMimeType,
        sizeBytes: stored.size,
        sha256: stored.sha256,
      },
      jobId,
      input.requestId,
    );
  } catch (error) {
    await removeObject();
    throw error;
  }
  try {
    await deps.queue.enqueue({ jobId, fileId, sourceAccountId: account, requestId: input.requestId });
  } catch (error) {
    deps.logger.error({ err: error, fileId }, 'could not queue processing; upload rolled back');
    await deps.repo.deleteFileRow(fileId);
    await removeObject();
    throw Errors.unavailable('The processing queue is unavailable, try again', 'QUEUE_UNAVAILABLE');
  }
  deps.metrics?.uploads.inc({ result: 'accepted' });
  deps.metrics?.uploadBytes.inc(stored.size);
  // Not awaited: an unreachable broker must not hold the upload response (EventBus waits to reconnect).
  void deps.events
    .publish('file.uploaded', { fileId, mimeType: stored.mime, sizeBytes: stored.size }, { sourceAccountId: account, userId: ownerId })
    .catch((err) => deps.logger.warn({ err, fileId }, 'file.uploaded event not published'));
  return {
    fileId,
    jobId: created.job.id,
    status: created.file.status,
    mimeType: stored.mime,
    sizeBytes: stored.size,
    sha256: stored.sha256,
    duplicate: false,
  };
}
