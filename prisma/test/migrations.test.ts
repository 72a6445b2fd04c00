import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testInfra } from '@nself/test-support';

const run = promisify(execFile);
const prismaDir = path.resolve(import.meta.dirname, '..');
const prisma6 = path.join(prismaDir, 'bin/prisma6');

async function diffAgainst(schemaDir: string): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(
      prisma6,
      ['migrate', 'diff', '--from-migrations', 'migrations', '--to-schema-datamodel', schemaDir, '--exit-code'],
      { env: { ...process.env, DATABASE_URL: testInfra().databaseUrl }, timeout: 120_000 },
    );
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('migrations', () => {
  let client: pg.Client;
  beforeAll(async () => {
    client = new pg.Client({ connectionString: testInfra().databaseUrl });
    await client.connect();
  });
  afterAll(() => client.end());

  it('were applied to the empty test database and recorded as Prisma does', async () => {
    const { rows } = await client.query(
      'SELECT migration_name, finished_at, checksum FROM _prisma_migrations ORDER BY migration_name',
    );
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) {
      expect(row.finished_at).not.toBeNull();
      const sql = readFileSync(path.join(prismaDir, 'migrations', row.migration_name, 'migration.sql'));
      const { createHash } = await import('node:crypto');
      expect(row.checksum).toBe(createHash('sha256').update(sql).digest('hex'));
    }
  });

  it('create every table of every service with source_account_id', async () => {
    const tables = [
      'realtime_connections', 'realtime_rooms', 'realtime_room_members', 'realtime_presence', 'realtime_typing',
      'realtime_events', 'notification_templates', 'notification_preferences', 'notifications',
      'notification_queue', 'notification_providers', 'notification_batches', 'file_processing_jobs',
      'file_thumbnails', 'file_scans', 'file_metadata', 'jobs', 'job_results', 'job_schedules', 'job_failures',
      'idme_verifications', 'idme_groups', 'idme_badges', 'idme_attributes',
    ];
    const { rows } = await client.query(
      `SELECT table_name FROM information_schema.columns
        WHERE table_schema = 'public' AND column_name = 'source_account_id'`,
    );
    const withAccount = new Set(rows.map((r) => r.table_name));
    for (const table of tables) expect(withAccount, table).toContain(table);
  });

  it('index only the notifications each lookup needs: in flight for the sweeps, with a value for webhooks and digests', async () => {
    const { rows } = await client.query<{ indexname: string; indexdef: string }>(
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'notifications' AND indexdef LIKE '% WHERE %'",
    );
    const defs = Object.fromEntries(rows.map((r) => [r.indexname, r.indexdef]));
    expect(defs.notifications_outbox_idx).toMatch(/\(created_at\) WHERE \(\(status = 'queued'::text\) AND \(dispatched_at IS NULL\)\)/);
    expect(defs.notifications_deferred_idx).toMatch(/\(scheduled_for\) WHERE \(status = 'deferred'::text\)/);
    expect(defs.notifications_sending_idx).toMatch(/\(claimed_until\) WHERE \(status = 'sending'::text\)/);
    expect(defs.notifications_provider_message_id_idx).toMatch(/\(provider_message_id\) WHERE \(provider_message_id IS NOT NULL\)/);
    expect(defs.notifications_batch_id_idx).toMatch(/\(batch_id\) WHERE \(batch_id IS NOT NULL\)/);
    // Keyed-by-id statements have no status index to be misplanned through.
    const all = await client.query("SELECT indexname FROM pg_indexes WHERE tablename = 'notifications'");
    expect(all.rows.map((r) => r.indexname)).not.toContain('notifications_status_dispatched_at_idx');
  });

  it('create the realtime views and functions of seed 004', async () => {
    const views = await client.query("SELECT table_name FROM information_schema.views WHERE table_schema = 'public'");
    expect(views.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining(['active_connections', 'room_stats', 'current_typing', 'presence_summary']),
    );
    const fns = await client.query("SELECT proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace");
    expect(fns.rows.map((r) => r.proname)).toEqual(
      expect.arrayContaining([
        'cleanup_expired_typing', 'cleanup_stale_connections', 'update_presence_from_activity',
        'cleanup_old_events', 'cleanup_disconnected_connections', 'realtime_set_updated_at',
      ]),
    );
    const { rows } = await client.query('SELECT cleanup_expired_typing() AS removed');
    expect(rows[0].removed).toBe(0);
  });

  it('match schema.prisma exactly (drift check), and the check does fail on drift', async () => {
    const clean = await diffAgainst(path.join(prismaDir, '.v6-schema'));
    expect(clean.output).toContain('No difference detected');
    expect(clean.code).toBe(0);

    const drifted = mkdtempSync(path.join(tmpdir(), 'nself-drift-'));
    try {
      cpSync(path.join(prismaDir, '.v6-schema'), drifted, { recursive: true });
      const file = path.join(drifted, 'realtime.prisma');
      writeFileSync(
        file,
        readFileSync(file, 'utf8').replace('  description     String?\n', '  description     String?\n  driftProbe String?\n'),
      );
      const result = await diffAgainst(drifted);
      expect(result.code).toBe(2);
      expect(result.output).toContain('driftProbe');
    } finally {
      rmSync(drifted, { recursive: true, force: true });
    }
    // Two runs of the WASM schema engine, each replaying every migration into a shadow database: 10–20 s
    // on an idle machine, over 30 s while the rest of the suite loads both cores.
  }, 180_000);
});
