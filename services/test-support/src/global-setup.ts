/**
 * Vitest global setup: one isolated environment per test run on the shared infrastructure, so two
 * runs (or two developers) never collide: a fresh PostgreSQL database with every migration applied by
 * the project's real migration path, a RabbitMQ vhost, a Redis key prefix, and an S3 server
 * (s3rver) on loopback. Everything is removed again at teardown.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import pg from 'pg';
import S3rver from 's3rver';

const run = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const STALE_AFTER_MS = 6 * 3600_000;

async function adminQuery(adminUrl: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

function withDatabase(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Databases of runs that were killed before their teardown (older than STALE_AFTER_MS). */
async function dropStaleDatabases(adminUrl: string): Promise<void> {
  const { rows } = await adminQuery(adminUrl, "SELECT datname FROM pg_database WHERE datname LIKE 'nself_test_%'");
  for (const { datname } of rows as { datname: string }[]) {
    const started = parseInt(datname.slice('nself_test_'.length).split('_')[0] ?? '', 36);
    if (Number.isFinite(started) && Date.now() - started > STALE_AFTER_MS) {
      await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    }
  }
}

async function rabbitmqctl(...args: string[]): Promise<boolean> {
  try {
    await run('rabbitmqctl', ['-q', ...args], { timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    // Keys of a run expire with Redis restarts anyway; a failed cleanup must not fail the run.
  } finally {
    redis.disconnect();
  }
}

export default async function setup(): Promise<() => Promise<void>> {
  const runId = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const adminUrl = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const amqpBase = process.env.NSELF_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

  await dropStaleDatabases(adminUrl);
  const database = `nself_test_${runId}`;
  await adminQuery(adminUrl, `CREATE DATABASE "${database}"`);
  const databaseUrl = withDatabase(adminUrl, database);
  await run(path.join(repoRoot, 'prisma/bin/prisma6'), ['migrate', 'deploy'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    timeout: 120_000,
  });

  // A vhost of its own when rabbitmqctl can reach the broker; otherwise the default vhost, where
  // tests still isolate themselves by unique queue and exchange names.
  const vhost = `nself-test-${runId}`;
  const ownVhost =
    (await rabbitmqctl('add_vhost', vhost)) && (await rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*'));
  const amqpUrl = ownVhost ? `${amqpBase.replace(/\/$/, '')}/${encodeURIComponent(vhost)}` : amqpBase;

  const s3Dir = mkdtempSync(path.join(tmpdir(), 'nself-s3-'));
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: s3Dir, silent: true });
  const { port: s3Port } = (await s3.run()) as { port: number };

  Object.assign(process.env, {
    TEST_RUN_ID: runId,
    TEST_DATABASE_URL: databaseUrl,
    TEST_REDIS_URL: process.env.NSELF_REDIS_URL ?? 'redis://127.0.0.1:6379',
    TEST_REDIS_PREFIX: `t:${runId}`,
    TEST_AMQP_URL: amqpUrl,
    TEST_CLAMD_HOST: process.env.NSELF_CLAMD_HOST ?? '127.0.0.1',
    TEST_CLAMD_PORT: process.env.NSELF_CLAMD_PORT ?? '3310',
    TEST_S3_ENDPOINT: `http://127.0.0.1:${s3Port}`,
    TEST_REPO_ROOT: repoRoot,
  });

  return async () => {
    await deleteRedisKeys(process.env.TEST_REDIS_URL!, `t:${runId}`);
    await s3.close().catch(() => undefined);
    rmSync(s3Dir, { recursive: true, force: true });
    if (ownVhost) await rabbitmqctl('delete_vhost', vhost);
    await adminQuery(adminUrl, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
  };
}
