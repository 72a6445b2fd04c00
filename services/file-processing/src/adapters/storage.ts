import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Logger } from '@nself/logging';
import type { FileConfig } from '../config.js';
import { createLinkSigner, type LinkSigner } from './signed-links.js';

export interface StoredObject {
  key: string;
  size: number;
  lastModified: Date;
}

export interface ObjectHead {
  size: number;
  contentType?: string;
  metadata: Record<string, string>;
  lastModified?: Date;
}

export interface PresignOptions {
  expiresInSeconds: number;
  /** Served as Content-Disposition: attachment; filename=… when set. */
  downloadName?: string;
  contentType?: string;
}

/** The object store the service writes to: an S3-compatible bucket, or a directory on local disk. */
export interface ObjectStorage {
  readonly kind: 's3' | 'local';
  readonly bucket: string;
  /** Creates the bucket (or directory) when missing. */
  ensureBucket(): Promise<void>;
  /** Readiness: the bucket answers. */
  check(): Promise<void>;
  /**
   * Streams body into key. Bounded memory (one part buffer per in-flight part). When body errors or
   * the signal aborts, the partial upload is aborted and nothing is left at key.
   */
  putStream(key: string, body: Readable, options: { contentType: string; metadata?: Record<string, string> }): Promise<void>;
  putBuffer(key: string, body: Buffer, contentType: string): Promise<void>;
  getStream(key: string): Promise<Readable>;
  /** The first bytes of an object (for type sniffing). */
  getHead(key: string, bytes: number): Promise<Buffer>;
  head(key: string): Promise<ObjectHead | null>;
  delete(key: string): Promise<void>;
  deleteMany(keys: string[]): Promise<void>;
  copy(from: string, to: string): Promise<void>;
  list(prefix?: string): AsyncIterable<StoredObject>;
  /** A time-limited URL the client can GET the object from. */
  presignGet(key: string, options: PresignOptions): Promise<string>;
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
    this.name = 'ObjectNotFoundError';
  }
}

/** Keys come from us, from storage events and from the CLI: refuse anything that could escape a prefix. */
export function assertSafeKey(key: string): void {
  if (!key || key.length > 1024 || key.startsWith('/') || key.split('/').some((p) => p === '..' || p === '.') || key.includes('\0')) {
    throw new Error(`unsafe object key: ${JSON.stringify(key.slice(0, 100))}`);
  }
}

function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

function isNotFound(error: unknown): boolean {
  if (error instanceof S3ServiceException) {
    return error.name === 'NoSuchKey' || error.name === 'NotFound' || error.$metadata.httpStatusCode === 404;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------- S3

export interface S3StorageOptions {
  endpoint?: string;
  publicEndpoint?: string;
  bucket: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
  partSize: number;
  logger: Logger;
}

function s3Client(options: S3StorageOptions, endpoint: string | undefined): S3Client {
  return new S3Client({
    endpoint,
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    credentials:
      options.accessKeyId && options.secretAccessKey
        ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
        : undefined,
    // Streams must not be sent as aws-chunked bodies with trailing checksums: MinIO-likes and s3rver
    // store those bytes verbatim. Checksums only where the API requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 3,
  });
}

export class S3Storage implements ObjectStorage {
  readonly kind = 's3' as const;
  readonly bucket: string;
  readonly client: S3Client;
  private readonly presigner: S3Client;

  constructor(private readonly options: S3StorageOptions) {
    this.bucket = options.bucket;
    this.client = s3Client(options, options.endpoint);
    // Presigned URLs are signed for the host clients reach (FILE_STORAGE_PUBLIC_ENDPOINT), which may
    // differ from the service's internal endpoint (e.g. http://minio:9000 inside compose).
    this.presigner = options.publicEndpoint ? s3Client(options, options.publicEndpoint) : this.client;
  }

  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      } catch (createError) {
        const name = (createError as Error).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw createError;
      }
    }
  }

  async check(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
  }

  async putStream(
    key: string,
    body: Readable,
    options: { contentType: string; metadata?: Record<string, string> },
  ): Promise<void> {
    assertSafeKey(key);
    let bodyError: unknown;
    body.once('error', (error) => {
      bodyError = error;
    });
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: body, ContentType: options.contentType, Metadata: options.metadata },
      partSize: this.options.partSize,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (error) {
      // lib-storage aborts the multipart upload itself (AbortMultipartUpload); when that call fails too
      // (or the store lacks it) the upload error is still the one that matters.
      this.options.logger.debug({ err: error, key }, 'streamed upload aborted');
      await this.delete(key).catch(() => undefined);
      throw bodyError ?? error;
    }
  }

  async putBuffer(key: string, body: Buffer, contentType: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }));
  }

  async getStream(key: string): Promise<Readable> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return result.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async getHead(key: string, bytes: number): Promise<Buffer> {
    try {
      const result = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${bytes - 1}` }),
      );
      return Buffer.from(await result.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFoundError(key);
      throw error;
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    try {
      const result = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return {
        size: Number(result.ContentLength ?? 0),
        contentType: result.ContentType,
        metadata: result.Metadata ?? {},
        lastModified: result.LastModified,
      };
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (!batch.length) continue;
      const result = await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
      const failed = (result.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
      if (failed.length) throw new Error(`could not delete ${failed.length} object(s): ${failed[0]?.Code ?? 'error'}`);
    }
  }

  async copy(from: string, to: string): Promise<void> {
    assertSafeKey(to);
    await this.client.send(
      new CopyObjectCommand({
        Bucket: this.bucket,
        Key: to,
        CopySource: `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
      }),
    );
  }

  async *list(prefix?: string): AsyncIterable<StoredObject> {
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const item of page.Contents ?? []) {
        if (item.Key) yield { key: item.Key, size: Number(item.Size ?? 0), lastModified: item.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async presignGet(key: string, options: PresignOptions): Promise<string> {
    return getSignedUrl(
      this.presigner,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ResponseContentDisposition: options.downloadName ? contentDisposition(options.downloadName) : undefined,
        ResponseContentType: options.contentType,
      }),
      { expiresIn: options.expiresInSeconds },
    );
  }
}

// -------------------------------------------------------------------------------------- local disk

export interface LocalStorageOptions {
  directory: string;
  bucket: string;
  /** Base URL of this service as clients reach it (links point at its /v1/download route). */
  publicUrl: string;
  signer: LinkSigner;
}

/**
 * The embedded default: objects as files under <directory>/<bucket>/<key>. Writes go to a temporary
 * file renamed into place, so a failed upload leaves nothing; links are HMAC-signed, expiring URLs
 * served by the service itself (GET /v1/download/:token).
 */
export class LocalStorage implements ObjectStorage {
  readonly kind = 'local' as const;
  readonly bucket: string;
  readonly root: string;

  constructor(private readonly options: LocalStorageOptions) {
    this.bucket = options.bucket;
    this.root = path.resolve(options.directory, options.bucket);
  }

  /** Absolute path of a key (validated to stay under the bucket directory). */
  pathOf(key: string): string {
    assertSafeKey(key);
    const full = path.resolve(this.root, key);
    if (!full.startsWith(this.root + path.sep)) throw new Error('unsafe object key');
    return full;
  }

  async ensureBucket(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async check(): Promise<void> {
    const info = await stat(this.root);
    if (!info.isDirectory()) throw new Error(`${this.root} is not a directory`);
  }

  async putStream(key: string, body: Readable): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(path.dirname(target), { recursive: true });
    const temporary = `${target}.part-${randomUUID()}`;
    try {
      await pipeline(body, createWriteStream(temporary));
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  async putBuffer(key: string, body: Buffer): Promise<void> {
    await this.putStream(key, Readable.from([body]));
  }

  async getStream(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      await stat(file);
    } catch {
      throw new ObjectNotFoundError(key);
    }
    return createReadStream(file);
  }

  async getHead(key: string, bytes: number): Promise<Buffer> {
    let handle;
    try {
      handle = await open(this.pathOf(key), 'r');
    } catch {
      throw new ObjectNotFoundError(key);
    }
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<ObjectHead | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { size: info.size, metadata: {}, lastModified: info.mtime } : null;
    } catch {
      return null;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await rm(file, { force: true });
    // Drop directories left empty, up to the bucket root (rmdir refuses non-empty ones).
    let dir = path.dirname(file);
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
      dir = path.dirname(dir);
    }
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  async copy(from: string, to: string): Promise<void> {
    const target = this.pathOf(to);
    await mkdir(path.dirname(target), { recursive: true });
    await copyFile(this.pathOf(from), target);
  }

  async *list(prefix = ''): AsyncIterable<StoredObject> {
    const walk = async function* (dir: string, root: string): AsyncIterable<StoredObject> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) {
          yield* walk(full, root);
        } else if (entry.isFile() && !entry.name.includes('.part-')) {
          const info = await stat(full);
          yield { key: path.relative(root, full).split(path.sep).join('/'), size: info.size, lastModified: info.mtime };
        }
      }
    };
    for await (const item of walk(this.root, this.root)) {
      if (item.key.startsWith(prefix)) yield item;
    }
  }

  async presignGet(key: string, options: PresignOptions): Promise<string> {
    const token = this.options.signer.sign({
      key,
      expiresAt: Math.floor(Date.now() / 1000) + options.expiresInSeconds,
      name: options.downloadName,
      type: options.contentType,
    });
    return `${this.options.publicUrl}/v1/download/${token}`;
  }
}

export function createStorage(config: FileConfig, logger: Logger): ObjectStorage {
  const s = config.storage;
  if (s.provider === 'local') {
    return new LocalStorage({
      directory: s.localDir,
      bucket: s.bucket,
      publicUrl: config.links.publicUrl,
      signer: createLinkSigner(config.links.signingSecret),
    });
  }
  return new S3Storage({
    endpoint: s.endpoint,
    publicEndpoint: s.publicEndpoint,
    bucket: s.bucket,
    region: s.region,
    accessKeyId: s.accessKeyId,
    secretAccessKey: s.secretAccessKey,
    forcePathStyle: s.forcePathStyle,
    partSize: s.partSize,
    logger,
  });
}

/** sha256 of a stream (used where an object's hash must be recomputed). */
export async function sha256Of(stream: Readable): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), size };
}
