import { DeleteObjectsCommand, ListObjectsV2Command, S3Client, type _Object } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';

export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  forcePathStyle: boolean;
}

/** An S3-compatible object store (MinIO, S3, R2, B2): the few operations the maintenance jobs need. */
export interface ObjectStore {
  /** Streams a body of unknown length into an object (multipart); resolves with the stored size. */
  upload(bucket: string, key: string, body: Readable, contentType: string, signal?: AbortSignal): Promise<void>;
  /** Every object under a prefix (paginated underneath), up to `limit`. */
  list(bucket: string, prefix: string, limit: number, signal?: AbortSignal): Promise<_Object[]>;
  /** Deletes keys in batches of 1000; returns how many were deleted. */
  remove(bucket: string, keys: string[]): Promise<number>;
  close(): void;
}

export function createObjectStore(settings: S3Settings): ObjectStore {
  const client = new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle,
    credentials:
      settings.accessKeyId && settings.secretAccessKey
        ? { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey }
        : undefined,
    // Streams of unknown length must not be sent aws-chunked (s3rver and some S3-compatibles store the
    // framing); checksums only where the API requires them.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });

  return {
    async upload(bucket, key, body, contentType, signal) {
      const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: body, ContentType: contentType },
        queueSize: 2,
        partSize: 8 * 1024 * 1024,
        leavePartsOnError: false,
      });
      const onAbort = () => void upload.abort().catch(() => undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await upload.done();
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    },
    async list(bucket, prefix, limit, signal) {
      const out: _Object[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: 1000 }),
          { abortSignal: signal },
        );
        out.push(...(page.Contents ?? []));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token && out.length < limit);
      return out.slice(0, limit);
    },
    async remove(bucket, keys) {
      let deleted = 0;
      for (let i = 0; i < keys.length; i += 1000) {
        const chunk = keys.slice(i, i + 1000);
        const result = await client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: chunk.map((Key) => ({ Key })), Quiet: false } }),
        );
        if (result.Errors?.length) {
          throw new Error(`S3 refused to delete ${result.Errors.length} object(s): ${result.Errors[0]?.Code ?? 'error'}`);
        }
        deleted += result.Deleted?.length ?? chunk.length;
      }
      return deleted;
    },
    close() {
      client.destroy();
    },
  };
}
