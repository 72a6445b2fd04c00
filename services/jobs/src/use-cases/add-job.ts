import type { Principal } from '@nself/auth';
import { AppError, Errors, fieldErrorsFromZod, parseInput } from '@nself/errors';
import { z } from 'zod';
import type { CreatedRow } from '../adapters/job-store.js';
import {
  builtinPayloadSchemas,
  CLIENT_JOB_ID,
  isBuiltinType,
  JOB_TYPE_NAME,
  type JobEnvelope,
  type JobMeta,
  type JobStatus,
} from '../contracts.js';
import { bullmqIdFor, uuidv7 } from '../ids.js';
import type { JobsJob } from '../processor.js';
import { baseRow } from '../worker-runtime.js';
import type { ApiDeps } from './deps.js';
import { liveState, viewFromRow, type JobView } from './job-view.js';
import { assertMayEnqueue } from './permissions.js';

export const addJobInput = z
  .object({
    type: z.string().regex(JOB_TYPE_NAME, 'lowercase letters, digits, ".", "_" or "-"'),
    payload: z.unknown().default({}),
    queue: z.string().min(1).max(64).optional(),
    /** 1 is the highest priority, 2097152 the lowest; jobs without one run before all prioritized jobs. */
    priority: z.number().int().min(1).max(2_097_152).optional(),
    /** Milliseconds before the job may start. */
    delay: z.number().int().min(0).max(365 * 86_400_000).optional(),
    attempts: z.number().int().min(1).max(100).optional(),
    backoff: z
      .object({ type: z.enum(['exponential', 'fixed']), delay: z.number().int().min(0).max(86_400_000) })
      .strict()
      .optional(),
    /** Per-attempt timeout in ms (default JOBS_JOB_TIMEOUT, at most JOBS_MAX_JOB_TIMEOUT). */
    timeout: z.number().int().min(1).optional(),
    /** Deduplication key within the app: a second add with the same jobId returns the first job. */
    jobId: z.string().regex(CLIENT_JOB_ID, '1-128 of A-Z a-z 0-9 . _ -').optional(),
  })
  .strict();

export type AddJobInput = z.input<typeof addJobInput>;

/** Validates a type's payload for an app and checks the caller may run it; returns the parsed payload. */
export async function preparePayload(deps: ApiDeps, principal: Principal, type: string, payload: unknown): Promise<unknown> {
  let parsed: unknown = payload;
  if (isBuiltinType(type)) {
    const result = builtinPayloadSchemas[type].safeParse(payload);
    if (!result.success) {
      throw Errors.validation(
        fieldErrorsFromZod(result.error).map((e) => ({ ...e, field: e.field === '(body)' ? 'payload' : `payload.${e.field}` })),
        `The payload is not valid for ${type}`,
      );
    }
    parsed = result.data;
  } else if (!(await deps.repo.findJobTypeRow(principal.sourceAccountId, type))) {
    throw Errors.badRequest('UNKNOWN_JOB_TYPE', `"${type}" is neither a built-in type nor registered for this app`);
  }
  assertMayEnqueue(principal, type, parsed, deps.config);
  const json = JSON.stringify(parsed ?? null);
  if (json.includes('\\u0000')) {
    // Postgres cannot store NUL in JSON; refuse here rather than lose the job's mirror row.
    throw Errors.badRequest('INVALID_PAYLOAD', 'The payload contains NUL (\\u0000) characters');
  }
  const size = Buffer.byteLength(json);
  if (size > deps.config.maxPayloadBytes) {
    throw Errors.payloadTooLarge(`The payload is ${size} bytes; the limit is ${deps.config.maxPayloadBytes}`, 'JOB_PAYLOAD_TOO_LARGE');
  }
  return parsed;
}

export function resolveTimeout(deps: ApiDeps, timeout: number | undefined): number {
  const timeoutMs = timeout ?? deps.config.jobTimeoutMs;
  if (timeoutMs > deps.config.maxJobTimeoutMs) {
    throw Errors.validation([
      { field: 'timeout', code: 'too_big', message: `must be at most ${deps.config.maxJobTimeoutMs} ms (JOBS_MAX_JOB_TIMEOUT)` },
    ]);
  }
  return timeoutMs;
}

export function resolveQueue(deps: ApiDeps, queue: string | undefined): string {
  const name = queue ?? deps.config.defaultQueue;
  if (!deps.queues.has(name)) {
    throw Errors.badRequest('UNKNOWN_QUEUE', `Queue "${name}" is not configured (JOBS_QUEUES: ${deps.queues.names.join(', ')})`);
  }
  return name;
}

export function queueUnavailable(deps: ApiDeps, error: unknown): AppError {
  deps.logger.error({ err: error }, 'queue operation failed');
  return Errors.unavailable('The job queue is unavailable', 'QUEUE_UNAVAILABLE');
}

/**
 * Adds a job: validated, permission-checked, enqueued in BullMQ (the source of truth), then mirrored
 * (group-committed, so the job can be read back at once). With a jobId a second add returns the first job.
 */
export async function addJob(
  deps: ApiDeps,
  principal: Principal,
  rawInput: unknown,
  requestId?: string,
): Promise<{ job: JobView; created: boolean }> {
  const input = parseInput(addJobInput, rawInput);
  const queueName = resolveQueue(deps, input.queue);
  const payload = await preparePayload(deps, principal, input.type, input.payload);
  const timeoutMs = resolveTimeout(deps, input.timeout);
  const queue = deps.queues.get(queueName);

  const id = uuidv7();
  const bullmqId = bullmqIdFor(principal.sourceAccountId, input.jobId, id);
  if (input.jobId) {
    const existing = await deps.repo.findJobByBullmqId(queueName, bullmqId);
    if (existing) return { job: viewFromRow(existing), created: false };
  }

  const meta: JobMeta = {
    id,
    sourceAccountId: principal.sourceAccountId,
    createdBy: principal.userId,
    requestId: requestId ?? null,
    timeoutMs,
  };
  const envelope: JobEnvelope = { payload, meta };
  let added;
  try {
    added = await queue.add(input.type, envelope, {
      jobId: bullmqId,
      ...(input.priority ? { priority: input.priority } : {}),
      ...(input.delay ? { delay: input.delay } : {}),
      ...(input.attempts ? { attempts: input.attempts } : {}),
      ...(input.backoff ? { backoff: input.backoff } : {}),
    });
  } catch (error) {
    throw queueUnavailable(deps, error);
  }

  if (input.jobId) {
    // BullMQ keeps the first job when the id is taken; tell the two cases apart by our own id.
    const live = await liveState(queue, bullmqId).catch(() => undefined);
    const liveJob = live?.job as JobsJob | undefined;
    if (liveJob && liveJob.data?.meta?.id !== id) {
      return { job: viewFromRow({ ...baseRow(queueName, liveJob), status: live!.state, attemptsMade: liveJob.attemptsMade }), created: false };
    }
  }

  const status: JobStatus = input.delay ? 'delayed' : input.priority ? 'prioritized' : 'waiting';
  const row: CreatedRow = {
    id,
    sourceAccountId: principal.sourceAccountId,
    queue: queueName,
    bullmqId,
    type: input.type,
    priority: input.priority ?? 0,
    payload,
    maxAttempts: input.attempts ?? deps.config.retryAttempts,
    delayMs: input.delay ?? 0,
    timeoutMs,
    scheduleId: null,
    createdBy: principal.userId,
    requestId: requestId ?? null,
    createdAt: new Date(added.timestamp),
    status,
  };
  const persisted = await deps.recorder.created(row);
  if (!persisted) deps.logger.warn({ jobId: id }, 'job enqueued; its mirror row will be written when Postgres is back');
  return { job: viewFromRow(row), created: true };
}
