import { z } from 'zod';

/** A job's type: a pre-built one below, or a custom type registered over HTTP (POST /v1/job-types). */
export const JOB_TYPE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Client-chosen job ids (deduplication keys) and queue names. */
export const CLIENT_JOB_ID = /^[A-Za-z0-9._-]{1,128}$/;

const headerRecord = z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/), z.string().max(8192));

/** Payload schemas of the pre-built job types: the typed job-name → payload map. */
export const builtinPayloadSchemas = {
  /** Does nothing (optionally waits, honouring timeouts and cancellation): smoke tests and benchmarks. */
  noop: z.object({ sleepMs: z.number().int().min(0).max(600_000).optional() }).strict(),
  /** Sent through the notifications service (POST /v1/notifications with the admin secret). */
  'send-email': z
    .object({
      userId: z.string().min(1).max(256),
      template: z.string().min(1).max(128),
      data: z.record(z.string(), z.unknown()).default({}),
      category: z.string().min(1).max(64).optional(),
      priority: z.enum(['low', 'normal', 'high', 'critical']).optional(),
    })
    .strict(),
  'http-request': z
    .object({
      url: z.url({ protocol: /^https?$/ }),
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
      headers: headerRecord.default({}),
      /** A string is sent as is; anything else is sent as JSON. */
      body: z.unknown().optional(),
      timeoutMs: z.number().int().min(1).optional(),
      maxResponseBytes: z.number().int().min(1).optional(),
      followRedirects: z.boolean().default(true),
      /** Statuses that count as success; default any 2xx. */
      expectStatus: z.array(z.number().int().min(100).max(599)).min(1).optional(),
    })
    .strict(),
  'database-backup': z
    .object({
      /** Key prefix in the bucket (default JOBS_BACKUP_PREFIX). */
      prefix: z.string().regex(/^[A-Za-z0-9/_.-]{1,200}$/).optional(),
      /** Keep this many newest backups under the prefix (default JOBS_BACKUP_RETENTION_COUNT). */
      retentionCount: z.number().int().min(1).max(10_000).optional(),
      format: z.enum(['custom', 'plain']).default('custom'),
    })
    .strict(),
  'file-cleanup': z
    .object({
      bucket: z.string().min(3).max(63).optional(),
      /** Only objects under this key prefix are considered (never the whole bucket). */
      prefix: z.string().min(1).max(512),
      /** Objects last modified longer ago than this are deleted. */
      olderThanSeconds: z.number().int().min(0),
      dryRun: z.boolean().default(false),
      maxObjects: z.number().int().min(1).max(1_000_000).default(100_000),
    })
    .strict(),
  'cache-clear': z
    .object({
      /** Glob (Redis MATCH syntax) within the app's cache namespace; "*" clears all of it. */
      pattern: z.string().min(1).max(256).optional(),
      keys: z.array(z.string().min(1).max(512)).min(1).max(10_000).optional(),
    })
    .strict()
    .refine((p) => p.pattern !== undefined || p.keys !== undefined, { message: 'give pattern or keys' }),
} as const;

export type BuiltinJobType = keyof typeof builtinPayloadSchemas;
export const BUILTIN_JOB_TYPES = Object.keys(builtinPayloadSchemas) as BuiltinJobType[];
export type JobPayloads = { [K in BuiltinJobType]: z.output<(typeof builtinPayloadSchemas)[K]> };

export function isBuiltinType(type: string): type is BuiltinJobType {
  return Object.prototype.hasOwnProperty.call(builtinPayloadSchemas, type);
}

/**
 * Who may enqueue a type. `operator` = admin of an operator account (JOBS_OPERATOR_ACCOUNTS) or the
 * admin secret: those jobs act on shared infrastructure (the whole database, the shared bucket).
 */
export const TYPE_PERMISSIONS: Record<BuiltinJobType, 'user' | 'self-or-admin' | 'admin' | 'operator'> = {
  noop: 'user',
  'http-request': 'user',
  'send-email': 'self-or-admin',
  'cache-clear': 'admin',
  'database-backup': 'operator',
  'file-cleanup': 'operator',
};

/** Bookkeeping carried in every BullMQ job next to the payload. */
export interface JobMeta {
  /** Our uuid (jobs.id); absent for jobs a scheduler created, whose id is derived from queue + BullMQ id. */
  id?: string;
  sourceAccountId: string;
  createdBy: string | null;
  requestId?: string | null;
  scheduleId?: string;
  cron?: string;
  tz?: string;
  timeoutMs: number;
}

export interface JobEnvelope<P = unknown> {
  payload: P;
  meta: JobMeta;
}

export const JOB_STATUSES = ['waiting', 'delayed', 'prioritized', 'active', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
