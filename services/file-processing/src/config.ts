import { availableParallelism, tmpdir } from 'node:os';
import { z } from 'zod';
import { authConfigFromEnv, authEnv, type AuthConfig } from '@nself/auth';
import { commonEnv, env, loadConfig } from '@nself/config';

export const THUMBNAIL_FORMATS = ['avif', 'webp', 'jpeg'] as const;
export type ThumbnailFormat = (typeof THUMBNAIL_FORMATS)[number];

export interface ThumbnailSize {
  /** As configured, e.g. "400x400"; the label stored in file_thumbnails.size_label. */
  label: string;
  width: number;
  height: number;
}

const UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** "100MB", "512kb", "1.5GB" or a plain byte count → bytes (binary units). */
export function parseByteSize(value: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return null;
  const factor = UNITS[(match[2] || 'b').toLowerCase()];
  if (!factor) return null;
  const bytes = Math.floor(Number(match[1]) * factor);
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : null;
}

/** "100x100,400x400,1200" → boxes, largest first. A single number is a square box. */
export function parseThumbnailSizes(value: string): ThumbnailSize[] | null {
  const sizes: ThumbnailSize[] = [];
  for (const raw of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const match = /^(\d{1,5})(?:x(\d{1,5}))?$/i.exec(raw);
    if (!match) return null;
    const width = Number(match[1]);
    const height = Number(match[2] ?? match[1]);
    if (width < 1 || height < 1 || width > 8192 || height > 8192) return null;
    sizes.push({ label: raw.toLowerCase(), width, height });
  }
  if (!sizes.length || new Set(sizes.map((s) => s.label)).size !== sizes.length) return null;
  return sizes.sort((a, b) => b.width * b.height - a.width * a.height);
}

const byteSize = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const bytes = parseByteSize(value);
      if (bytes === null) {
        ctx.addIssue({ code: 'custom', message: 'must be a size such as 100MB, 512KB or a byte count' });
        return z.NEVER;
      }
      return bytes;
    });

const optional = env.optionalString;

export const fileEnvSchema = z
  .object({
    ...commonEnv,
    ...authEnv,
    FILE_PORT: env.port(3104),
    FILE_WORKER_PORT: env.port(3114),
    FILE_HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: z.string().min(1),
    DATABASE_POOL_SIZE: env.int(10, 1),
    REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
    FILE_REDIS_URL: optional(),
    REDIS_KEY_PREFIX: z.string().min(1).default('nself'),
    AMQP_URL: z.string().default('amqp://guest:guest@127.0.0.1:5672'),
    EVENTS_EXCHANGE: z.string().min(1).default('nself.events'),
    FILE_CORS_ORIGINS: env.list(''),

    // Storage: any S3-compatible endpoint, or local disk when no endpoint is configured.
    FILE_STORAGE_PROVIDER: z.preprocess(
      (v) => (v === '' ? undefined : v),
      z.enum(['local', 'minio', 's3', 'r2', 'b2', 'gcs', 'azure']).optional(),
    ),
    FILE_STORAGE_ENDPOINT: optional(),
    FILE_STORAGE_PUBLIC_ENDPOINT: optional(),
    FILE_STORAGE_BUCKET: z.string().min(3).max(63).default('nself-files'),
    FILE_STORAGE_ACCESS_KEY: optional(),
    FILE_STORAGE_SECRET_KEY: optional(),
    FILE_STORAGE_REGION: z.string().min(1).default('us-east-1'),
    FILE_STORAGE_FORCE_PATH_STYLE: env.bool(true),
    FILE_STORAGE_CREATE_BUCKET: env.bool(true),
    FILE_STORAGE_LOCAL_DIR: z.string().min(1).default('./data/files'),
    FILE_UPLOAD_PART_SIZE: byteSize('8MB'),
    FILE_QUARANTINE_PREFIX: z.string().min(1).default('quarantine/'),

    // Links.
    FILE_PUBLIC_URL: optional(),
    FILE_URL_EXPIRY_SECONDS: env.int(3600, 1).pipe(z.number().max(604800)),
    FILE_URL_SIGNING_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),

    // Upload limits.
    FILE_MAX_SIZE: byteSize('100MB'),
    FILE_ALLOWED_TYPES: env.list('image/*,video/*,application/pdf'),
    FILE_DEDUPLICATION: env.bool(true),

    // Processing.
    FILE_THUMBNAIL_SIZES: z
      .string()
      .default('100x100,400x400,1200x1200')
      .transform((value, ctx) => {
        const sizes = parseThumbnailSizes(value);
        if (!sizes) {
          ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list such as 100x100,400x400' });
          return z.NEVER;
        }
        return sizes;
      }),
    FILE_THUMBNAIL_FORMATS: env.list('avif,webp,jpeg').pipe(z.array(z.enum(THUMBNAIL_FORMATS)).min(1)),
    FILE_ENABLE_OPTIMIZATION: env.bool(true),
    FILE_JPEG_QUALITY: env.int(80, 1).pipe(z.number().max(100)),
    FILE_WEBP_QUALITY: env.int(80, 1).pipe(z.number().max(100)),
    FILE_AVIF_QUALITY: env.int(50, 1).pipe(z.number().max(100)),
    FILE_AVIF_EFFORT: env.int(3, 0).pipe(z.number().max(9)),
    FILE_MAX_PIXELS: env.int(100_000_000, 1),
    FILE_SHARP_CONCURRENCY: env.int(availableParallelism(), 1),
    FILE_TMP_DIR: z.string().default(tmpdir()),
    FILE_FFMPEG_PATH: z.string().default('ffmpeg'),
    FILE_FFPROBE_PATH: z.string().default('ffprobe'),
    FILE_PDFTOPPM_PATH: z.string().default('pdftoppm'),
    FILE_PDFINFO_PATH: z.string().default('pdfinfo'),
    FILE_TOOL_TIMEOUT_MS: env.int(60_000, 100),

    // Virus scanning.
    FILE_ENABLE_VIRUS_SCAN: env.bool(false),
    FILE_CLAMD_HOST: z.string().default('127.0.0.1'),
    FILE_CLAMD_PORT: env.port(3310),
    FILE_CLAMD_TIMEOUT_MS: env.int(60_000, 100),

    // Queue and worker.
    FILE_QUEUE_NAME: z.string().min(1).default('file-processing'),
    FILE_WORKER_CONCURRENCY: env.int(2, 1),
    FILE_JOB_ATTEMPTS: env.int(5, 1),
    FILE_JOB_BACKOFF_MS: env.int(2000, 0),
    FILE_JOB_LOCK_MS: env.int(30_000, 1000),
    FILE_STALLED_INTERVAL_MS: env.int(30_000, 500),

    // Inbound storage events (MinIO/S3 bucket notifications).
    FILE_STORAGE_EVENT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    FILE_STORAGE_EVENT_ACCOUNT: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('primary'),
  })
  .superRefine((cfg, ctx) => {
    if (!cfg.JWT_SECRET && !cfg.JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'JWT_SECRET or JWT_JWKS_URL is required' });
    }
    const provider = cfg.FILE_STORAGE_PROVIDER ?? (cfg.FILE_STORAGE_ENDPOINT ? 's3' : 'local');
    if (provider !== 'local' && provider !== 's3' && !cfg.FILE_STORAGE_ENDPOINT) {
      ctx.addIssue({ code: 'custom', path: ['FILE_STORAGE_ENDPOINT'], message: `is required for provider ${provider}` });
    }
    if (provider !== 'local' && (!cfg.FILE_STORAGE_ACCESS_KEY) !== (!cfg.FILE_STORAGE_SECRET_KEY)) {
      ctx.addIssue({
        code: 'custom',
        path: [cfg.FILE_STORAGE_ACCESS_KEY ? 'FILE_STORAGE_SECRET_KEY' : 'FILE_STORAGE_ACCESS_KEY'],
        message: 'FILE_STORAGE_ACCESS_KEY and FILE_STORAGE_SECRET_KEY go together',
      });
    }
    if (provider === 'local' && !cfg.FILE_URL_SIGNING_SECRET && !cfg.JWT_SECRET && !cfg.ADMIN_SECRET) {
      ctx.addIssue({
        code: 'custom',
        path: ['FILE_URL_SIGNING_SECRET'],
        message: 'is required for local storage when neither JWT_SECRET nor ADMIN_SECRET is set',
      });
    }
  });

export type FileEnv = z.output<typeof fileEnvSchema>;

export interface FileConfig {
  env: FileEnv;
  auth: AuthConfig;
  port: number;
  workerPort: number;
  host: string;
  databaseUrl: string;
  redisUrl: string;
  redisPrefix: string;
  /** BullMQ key prefix (REDIS_KEY_PREFIX + ":bull"). */
  queuePrefix: string;
  queueName: string;
  amqpUrl: string;
  eventsExchange: string;
  storage: {
    provider: 'local' | 'minio' | 's3' | 'r2' | 'b2' | 'gcs' | 'azure';
    endpoint?: string;
    publicEndpoint?: string;
    bucket: string;
    accessKeyId?: string;
    secretAccessKey?: string;
    region: string;
    forcePathStyle: boolean;
    createBucket: boolean;
    localDir: string;
    partSize: number;
    quarantinePrefix: string;
  };
  links: { publicUrl: string; expirySeconds: number; signingSecret: string };
  upload: { maxSize: number; allowedTypes: string[]; deduplicate: boolean };
  processing: {
    sizes: ThumbnailSize[];
    formats: ThumbnailFormat[];
    optimize: boolean;
    jpegQuality: number;
    webpQuality: number;
    avifQuality: number;
    avifEffort: number;
    maxPixels: number;
    sharpConcurrency: number;
    tmpDir: string;
    tools: { ffmpeg: string; ffprobe: string; pdftoppm: string; pdfinfo: string; timeoutMs: number };
  };
  scan: { enabled: boolean; host: string; port: number; timeoutMs: number };
  worker: { concurrency: number; attempts: number; backoffMs: number; lockMs: number; stalledIntervalMs: number };
  storageEvents: { secret?: string; account: string };
}

/** Parses the environment once (throws ConfigError naming the bad variables). */
export function loadFileConfig(source: NodeJS.ProcessEnv = process.env): FileConfig {
  // An empty variable (FOO= in an .env file) means "not set": its default applies.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  const e = loadConfig(fileEnvSchema, cleaned);
  const provider = e.FILE_STORAGE_PROVIDER ?? (e.FILE_STORAGE_ENDPOINT ? 's3' : 'local');
  return {
    env: e,
    auth: authConfigFromEnv(e),
    port: e.FILE_PORT,
    workerPort: e.FILE_WORKER_PORT,
    host: e.FILE_HOST,
    databaseUrl: e.DATABASE_URL,
    redisUrl: e.FILE_REDIS_URL ?? e.REDIS_URL,
    redisPrefix: e.REDIS_KEY_PREFIX,
    queuePrefix: `${e.REDIS_KEY_PREFIX}:bull`,
    queueName: e.FILE_QUEUE_NAME,
    amqpUrl: e.AMQP_URL,
    eventsExchange: e.EVENTS_EXCHANGE,
    storage: {
      provider,
      endpoint: e.FILE_STORAGE_ENDPOINT,
      publicEndpoint: e.FILE_STORAGE_PUBLIC_ENDPOINT,
      bucket: e.FILE_STORAGE_BUCKET,
      accessKeyId: e.FILE_STORAGE_ACCESS_KEY,
      secretAccessKey: e.FILE_STORAGE_SECRET_KEY,
      region: e.FILE_STORAGE_REGION,
      forcePathStyle: e.FILE_STORAGE_FORCE_PATH_STYLE,
      createBucket: e.FILE_STORAGE_CREATE_BUCKET,
      localDir: e.FILE_STORAGE_LOCAL_DIR,
      partSize: Math.max(5 * 1024 * 1024, e.FILE_UPLOAD_PART_SIZE),
      quarantinePrefix: e.FILE_QUARANTINE_PREFIX.endsWith('/') ? e.FILE_QUARANTINE_PREFIX : `${e.FILE_QUARANTINE_PREFIX}/`,
    },
    links: {
      publicUrl: (e.FILE_PUBLIC_URL ?? `http://localhost:${e.FILE_PORT}`).replace(/\/+$/, ''),
      expirySeconds: e.FILE_URL_EXPIRY_SECONDS,
      // A configured secret, else one derived (never stored) from a secret the service already holds.
      signingSecret:
        e.FILE_URL_SIGNING_SECRET ?? `derived:file-links:${e.JWT_SECRET ?? ''}:${e.ADMIN_SECRET ?? ''}`,
    },
    upload: { maxSize: e.FILE_MAX_SIZE, allowedTypes: e.FILE_ALLOWED_TYPES, deduplicate: e.FILE_DEDUPLICATION },
    processing: {
      sizes: e.FILE_THUMBNAIL_SIZES,
      formats: [...new Set(e.FILE_THUMBNAIL_FORMATS)],
      optimize: e.FILE_ENABLE_OPTIMIZATION,
      jpegQuality: e.FILE_JPEG_QUALITY,
      webpQuality: e.FILE_WEBP_QUALITY,
      avifQuality: e.FILE_AVIF_QUALITY,
      avifEffort: e.FILE_AVIF_EFFORT,
      maxPixels: e.FILE_MAX_PIXELS,
      sharpConcurrency: e.FILE_SHARP_CONCURRENCY,
      tmpDir: e.FILE_TMP_DIR,
      tools: {
        ffmpeg: e.FILE_FFMPEG_PATH,
        ffprobe: e.FILE_FFPROBE_PATH,
        pdftoppm: e.FILE_PDFTOPPM_PATH,
        pdfinfo: e.FILE_PDFINFO_PATH,
        timeoutMs: e.FILE_TOOL_TIMEOUT_MS,
      },
    },
    scan: {
      enabled: e.FILE_ENABLE_VIRUS_SCAN,
      host: e.FILE_CLAMD_HOST,
      port: e.FILE_CLAMD_PORT,
      timeoutMs: e.FILE_CLAMD_TIMEOUT_MS,
    },
    worker: {
      concurrency: e.FILE_WORKER_CONCURRENCY,
      attempts: e.FILE_JOB_ATTEMPTS,
      backoffMs: e.FILE_JOB_BACKOFF_MS,
      lockMs: e.FILE_JOB_LOCK_MS,
      stalledIntervalMs: e.FILE_STALLED_INTERVAL_MS,
    },
    storageEvents: { secret: e.FILE_STORAGE_EVENT_SECRET, account: e.FILE_STORAGE_EVENT_ACCOUNT },
  };
}
