/** Shared vocabulary of the service: statuses, error codes and the error the pipeline throws. */

export const FILE_STATUS = {
  uploaded: 'uploaded',
  processing: 'processing',
  ready: 'ready',
  infected: 'infected',
  failed: 'failed',
  deleted: 'deleted',
} as const;
export type FileStatus = (typeof FILE_STATUS)[keyof typeof FILE_STATUS];

export const JOB_STATUS = { queued: 'queued', running: 'running', completed: 'completed', failed: 'failed' } as const;
export type JobStatus = (typeof JOB_STATUS)[keyof typeof JOB_STATUS];

export type ProcessingErrorCode =
  | 'SCAN_FAILED'
  | 'IMAGE_CORRUPT'
  | 'IMAGE_TOO_LARGE'
  | 'UNSUPPORTED_FORMAT'
  | 'MEDIA_TOOL_FAILED'
  | 'OBJECT_MISSING'
  | 'FILE_DELETED'
  | 'STORAGE_ERROR'
  | 'INTERNAL_ERROR';

/**
 * A failure of one processing step with a stable code. `retryable` failures (storage hiccups, clamd
 * unreachable or over its limit) are retried with backoff; the others fail the job at once.
 */
export class ProcessingError extends Error {
  constructor(
    readonly code: ProcessingErrorCode,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ProcessingError';
  }
}

/** Object keys of a file and its derivatives: <account>/<fileId>/… */
export const keys = {
  original: (account: string, fileId: string, ext: string) => `${account}/${fileId}/original.${ext}`,
  thumbnail: (account: string, fileId: string, label: string, format: string) =>
    `${account}/${fileId}/thumbnails/${label}.${format === 'jpeg' ? 'jpg' : format}`,
  optimized: (account: string, fileId: string, ext: string) => `${account}/${fileId}/optimized.${ext}`,
  poster: (account: string, fileId: string) => `${account}/${fileId}/poster.jpg`,
};

export const CONTENT_TYPES: Record<string, string> = {
  avif: 'image/avif',
  webp: 'image/webp',
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
};
