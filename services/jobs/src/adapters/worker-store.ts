import type pg from 'pg';
import type { CustomJobType } from '../job-types/custom-http.js';

/** A schedule as the scheduler restore needs it (a job_schedules row). */
export interface ScheduleRow {
  id: string;
  sourceAccountId: string;
  queue: string;
  type: string;
  cron: string;
  timezone: string;
  payload: unknown;
  enabled: boolean;
}

/** What restoreSchedules reads; implemented by the API's repository and by the worker's store. */
export interface ScheduleSource {
  allScheduleIds(): Promise<{ id: string; enabled: boolean }[]>;
  enabledSchedules(): Promise<ScheduleRow[]>;
}

/**
 * The worker's few reads, on plain node-postgres. Worker processes do not use the Prisma client: its
 * queries run inside an AsyncLocalStorage context, and once a process has used AsyncLocalStorage every
 * promise pays for async context tracking — measured at +10–20 µs CPU per job on BullMQ's hot path.
 */
export function createWorkerStore(pool: pg.Pool): ScheduleSource & {
  findJobType(sourceAccountId: string, name: string): Promise<CustomJobType | null>;
  check(): Promise<void>;
} {
  return {
    async findJobType(sourceAccountId, name) {
      const { rows } = await pool.query<{ name: string; kind: string; url: string; signing_secret: string; timeout_ms: number }>(
        'SELECT name, kind, url, signing_secret, timeout_ms FROM job_types WHERE source_account_id = $1 AND name = $2',
        [sourceAccountId, name],
      );
      const row = rows[0];
      if (!row) return null;
      return {
        name: row.name,
        kind: row.kind === 'hasura-action' ? 'hasura-action' : 'webhook',
        url: row.url,
        signingSecret: row.signing_secret,
        timeoutMs: row.timeout_ms,
      };
    },
    async allScheduleIds() {
      const { rows } = await pool.query<{ id: string; enabled: boolean }>('SELECT id, enabled FROM job_schedules');
      return rows;
    },
    async enabledSchedules() {
      const { rows } = await pool.query<{
        id: string;
        source_account_id: string;
        queue: string;
        type: string;
        cron: string;
        timezone: string;
        payload: unknown;
        enabled: boolean;
      }>('SELECT id, source_account_id, queue, type, cron, timezone, payload, enabled FROM job_schedules WHERE enabled');
      return rows.map((r) => ({
        id: r.id,
        sourceAccountId: r.source_account_id,
        queue: r.queue,
        type: r.type,
        cron: r.cron,
        timezone: r.timezone,
        payload: r.payload,
        enabled: r.enabled,
      }));
    },
    async check() {
      await pool.query('SELECT 1');
    },
  };
}
