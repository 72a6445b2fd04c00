import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import type { Logger } from '@nself/logging';
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import type { JobScheduleModel as JobSchedule } from '@nself/db';
import type { ScheduleRow, ScheduleSource } from '../adapters/worker-store.js';
import type { QueueRegistry } from '../adapters/queues.js';
import type { JobsConfig } from '../config.js';
import { JOB_TYPE_NAME, type JobEnvelope } from '../contracts.js';
import { isUuid, uuidv7 } from '../ids.js';
import type { ApiDeps } from './deps.js';
import { preparePayload, queueUnavailable, resolveQueue, resolveTimeout } from './add-job.js';
import { requireAdmin } from './permissions.js';

const SCHEDULER_PREFIX = 'sched-';
export const schedulerIdOf = (scheduleId: string) => `${SCHEDULER_PREFIX}${scheduleId}`;

/** Options of a schedule's jobs that are not columns of job_schedules, kept with the payload. */
interface StoredPayload {
  payload: unknown;
  options?: { priority?: number; attempts?: number; timeoutMs?: number };
}

export interface ScheduleView {
  id: string;
  name: string;
  queue: string;
  type: string;
  cron: string;
  timezone: string;
  payload: unknown;
  priority: number | null;
  attempts: number | null;
  timeoutMs: number | null;
  enabled: boolean;
  lastRunAt: string | null;
  nextRunAt: string | null;
  createdAt: string;
  updatedAt: string;
}

function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Parses a cron expression (5 fields, or 6 with seconds) in a time zone; 400 with a clear code if not valid. */
export function nextRun(cron: string, timezone: string, after = new Date()): Date {
  if (!isTimezone(timezone)) throw Errors.badRequest('INVALID_TIMEZONE', `"${timezone}" is not an IANA time zone`);
  const fields = cron.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) {
    throw Errors.badRequest('INVALID_CRON', `"${cron}" is not a cron expression: expected 5 fields (or 6 with seconds)`);
  }
  try {
    return CronExpressionParser.parse(cron, { tz: timezone, currentDate: after, strict: false }).next().toDate();
  } catch (error) {
    throw Errors.badRequest('INVALID_CRON', `"${cron}" is not a valid cron expression: ${(error as Error).message}`);
  }
}

function stored(row: Pick<ScheduleRow, 'payload'>): StoredPayload {
  const value = row.payload as unknown as StoredPayload | null;
  return value && typeof value === 'object' && 'payload' in value ? value : { payload: value ?? {} };
}

export function viewSchedule(row: JobSchedule): ScheduleView {
  const { payload, options } = stored(row);
  let next: string | null = row.nextRunAt?.toISOString() ?? null;
  if (row.enabled) {
    try {
      next = nextRun(row.cron, row.timezone).toISOString();
    } catch {
      next = null;
    }
  }
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    type: row.type,
    cron: row.cron,
    timezone: row.timezone,
    payload,
    priority: options?.priority ?? null,
    attempts: options?.attempts ?? null,
    timeoutMs: options?.timeoutMs ?? null,
    enabled: row.enabled,
    lastRunAt: row.lastRunAt?.toISOString() ?? null,
    nextRunAt: row.enabled ? next : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Installs (or replaces) the BullMQ job scheduler of a schedule row. */
export async function applyScheduler(
  queues: QueueRegistry,
  config: JobsConfig,
  row: ScheduleRow,
  createdBy: string | null,
): Promise<void> {
  const { payload, options } = stored(row);
  const envelope: JobEnvelope = {
    payload,
    meta: {
      sourceAccountId: row.sourceAccountId,
      createdBy,
      scheduleId: row.id,
      cron: row.cron,
      tz: row.timezone,
      timeoutMs: options?.timeoutMs ?? config.jobTimeoutMs,
    },
  };
  await queues.get(row.queue).upsertJobScheduler(
    schedulerIdOf(row.id),
    { pattern: row.cron, tz: row.timezone },
    {
      name: row.type,
      data: envelope,
      opts: {
        ...(options?.priority ? { priority: options.priority } : {}),
        ...(options?.attempts ? { attempts: options.attempts } : {}),
      },
    },
  );
}

async function removeScheduler(queues: QueueRegistry, row: { queue: string; id: string }): Promise<void> {
  if (queues.has(row.queue)) await queues.get(row.queue).removeJobScheduler(schedulerIdOf(row.id));
}

export const createScheduleInput = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9._ -]{1,128}$/, '1-128 of letters, digits, space . _ -'),
    cron: z.string().min(1).max(128),
    timezone: z.string().min(1).max(64).default('UTC'),
    type: z.string().regex(JOB_TYPE_NAME),
    payload: z.unknown().default({}),
    queue: z.string().min(1).max(64).optional(),
    priority: z.number().int().min(1).max(2_097_152).optional(),
    attempts: z.number().int().min(1).max(100).optional(),
    timeout: z.number().int().min(1).optional(),
    enabled: z.boolean().default(true),
  })
  .strict();

/** Creates a cron schedule (admin): persisted in job_schedules, installed as a BullMQ job scheduler. */
export async function createSchedule(deps: ApiDeps, principal: Principal, raw: unknown): Promise<ScheduleView> {
  requireAdmin(principal);
  const input = parseInput(createScheduleInput, raw);
  const queue = resolveQueue(deps, input.queue);
  const next = nextRun(input.cron, input.timezone);
  const payload = await preparePayload(deps, principal, input.type, input.payload);
  const timeoutMs = input.timeout === undefined ? undefined : resolveTimeout(deps, input.timeout);
  const storedPayload: StoredPayload = {
    payload,
    options: {
      ...(input.priority ? { priority: input.priority } : {}),
      ...(input.attempts ? { attempts: input.attempts } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
    },
  };
  const row = await deps.repo.createSchedule({
    id: uuidv7(),
    sourceAccountId: principal.sourceAccountId,
    name: input.name,
    queue,
    type: input.type,
    cron: input.cron.trim(),
    timezone: input.timezone,
    payload: storedPayload,
    enabled: input.enabled,
    nextRunAt: input.enabled ? next : null,
  });
  if (!row) throw Errors.conflict('SCHEDULE_EXISTS', `A schedule named "${input.name}" already exists`);
  if (row.enabled) {
    try {
      await applyScheduler(deps.queues, deps.config, row, principal.userId);
    } catch (error) {
      await deps.repo.deleteSchedule(row.id).catch(() => undefined);
      throw queueUnavailable(deps, error);
    }
  }
  return viewSchedule(row);
}

export async function listSchedules(deps: ApiDeps, principal: Principal): Promise<ScheduleView[]> {
  requireAdmin(principal);
  return (await deps.repo.listSchedules(principal.sourceAccountId)).map(viewSchedule);
}

async function loadSchedule(deps: ApiDeps, principal: Principal, id: string): Promise<JobSchedule> {
  requireAdmin(principal);
  const row = isUuid(id) ? await deps.repo.findSchedule(principal.sourceAccountId, id) : null;
  if (!row) throw Errors.notFound('Schedule', 'SCHEDULE_NOT_FOUND');
  return row;
}

export async function getSchedule(deps: ApiDeps, principal: Principal, id: string): Promise<ScheduleView> {
  return viewSchedule(await loadSchedule(deps, principal, id));
}

export const updateScheduleInput = z
  .object({
    cron: z.string().min(1).max(128).optional(),
    timezone: z.string().min(1).max(64).optional(),
    payload: z.unknown().optional(),
    enabled: z.boolean().optional(),
  })
  .strict();

/** Changes cron, time zone, payload or enabled; the BullMQ scheduler is replaced or removed to match. */
export async function updateSchedule(deps: ApiDeps, principal: Principal, id: string, raw: unknown): Promise<ScheduleView> {
  const row = await loadSchedule(deps, principal, id);
  const input = parseInput(updateScheduleInput, raw);
  const cron = input.cron?.trim() ?? row.cron;
  const timezone = input.timezone ?? row.timezone;
  const enabled = input.enabled ?? row.enabled;
  const next = nextRun(cron, timezone);
  let payload = row.payload as unknown;
  if (input.payload !== undefined) {
    payload = { ...stored(row), payload: await preparePayload(deps, principal, row.type, input.payload) };
  }
  const updated = await deps.repo.updateSchedule(row.id, { cron, timezone, enabled, payload, nextRunAt: enabled ? next : null });
  try {
    if (enabled) await applyScheduler(deps.queues, deps.config, updated, principal.userId);
    else await removeScheduler(deps.queues, updated);
  } catch (error) {
    throw queueUnavailable(deps, error);
  }
  return viewSchedule(updated);
}

export async function deleteSchedule(deps: ApiDeps, principal: Principal, id: string): Promise<void> {
  const row = await loadSchedule(deps, principal, id);
  try {
    await removeScheduler(deps.queues, row);
  } catch (error) {
    throw queueUnavailable(deps, error);
  }
  await deps.repo.deleteSchedule(row.id);
}

/**
 * Brings BullMQ's job schedulers in line with job_schedules (run at every start of the API, the worker
 * and `schedule add`): every enabled schedule is (re)installed — so schedules survive a restart and even
 * a lost Redis — and schedulers of deleted or disabled schedules are removed.
 */
export async function restoreSchedules(deps: {
  repo: ScheduleSource;
  queues: QueueRegistry;
  config: JobsConfig;
  logger: Logger;
}): Promise<{ applied: number; removed: number }> {
  const rows = await deps.repo.allScheduleIds();
  const enabled = new Set(rows.filter((r) => r.enabled).map((r) => r.id));
  let applied = 0;
  for (const row of await deps.repo.enabledSchedules()) {
    if (!deps.queues.has(row.queue)) {
      deps.logger.warn({ scheduleId: row.id, queue: row.queue }, 'schedule names a queue that is not configured');
      continue;
    }
    const current = await deps.queues.get(row.queue).getJobScheduler(schedulerIdOf(row.id));
    if (current && current.pattern === row.cron && (current.tz ?? 'UTC') === row.timezone) continue;
    await applyScheduler(deps.queues, deps.config, row, null);
    applied += 1;
  }
  let removed = 0;
  for (const queue of deps.queues.all()) {
    for (const scheduler of await queue.getJobSchedulers(0, -1)) {
      const id = scheduler.key.startsWith(SCHEDULER_PREFIX) ? scheduler.key.slice(SCHEDULER_PREFIX.length) : null;
      if (id && !enabled.has(id)) {
        await queue.removeJobScheduler(scheduler.key);
        removed += 1;
      }
    }
  }
  if (applied || removed) deps.logger.info({ applied, removed }, 'job schedulers restored from job_schedules');
  return { applied, removed };
}
