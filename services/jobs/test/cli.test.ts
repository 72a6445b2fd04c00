import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_SECRET, testInfra, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { db, quietLogger, testConfig } from './helpers.js';

const run = promisify(execFile);
const { config, env } = testConfig();
const [queue] = config.queues as [string];

function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const root = testInfra().repoRoot;
  return run(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(root, 'services/jobs/src/cli.ts'), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env },
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ stdout, stderr, code: 0 }),
    (error: { stdout: string; stderr: string; code: number }) => ({ stdout: error.stdout, stderr: error.stderr, code: error.code }),
  );
}

describe('CLI', () => {
  let api: ApiServer;
  let worker: WorkerProcess;
  beforeAll(async () => {
    api = await startApiServer(config, quietLogger());
    worker = await startWorkerProcess(config, quietLogger());
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
  });

  it('init, schedule add / list, retry <job_id>, stats, and clear errors', async () => {
    const account = uniqueName('acc');
    // A failed job for `retry` (the SSRF guard refuses the target, so it fails at once).
    const res = await request(api.app)
      .post('/v1/jobs')
      .set({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account })
      .send({ type: 'http-request', attempts: 1, payload: { url: 'http://10.255.255.1/' } });
    const failed = () => db().job.findUnique({ where: { id: res.body.id }, include: { failures: true } });
    await waitFor(async () => (await failed())?.status === 'failed', { timeoutMs: 15_000, label: 'job to fail' });

    // Each command is its own process (as an operator would run it); independent ones run side by side.
    const [init, added, bad, retried, missing] = await Promise.all([
      cli('init'),
      cli('schedule', 'add', '--name', 'nightly backup', '--cron', '30 2 * * *', '--timezone', 'Europe/Berlin', '--type', 'noop', '--queue', queue, '--account', account, '--json'),
      cli('schedule', 'add', '--name', 'broken', '--cron', '99 * * * *', '--type', 'noop', '--account', account),
      cli('retry', res.body.id as string, '--account', account),
      cli('retry', '01a208f6-0000-7000-8000-000000000000', '--account', account),
    ]);
    expect(init.code, init.stderr).toBe(0);
    expect(added.code, added.stderr).toBe(0);
    const schedule = JSON.parse(added.stdout) as { id: string; nextRunAt: string };
    expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', minute: '2-digit' }).format(new Date(schedule.nextRunAt))).toBe('02:30');
    expect(await api.queues.get(queue).getJobScheduler(`sched-${schedule.id}`)).toMatchObject({ pattern: '30 2 * * *', tz: 'Europe/Berlin' });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('INVALID_CRON');
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toContain(`job ${res.body.id as string} is`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('JOB_NOT_FOUND');
    const again = await waitFor(async () => {
      const row = await failed();
      return row?.status === 'failed' && row.failures.length === 2 ? row : null;
    }, { timeoutMs: 15_000, label: 'second attempt to be recorded' });
    expect(again.failures.map((f) => f.attempt).sort()).toEqual([1, 2]);

    const [listed, stats] = await Promise.all([cli('schedule', 'list', '--account', account, '--json'), cli('stats', '--account', account, '--json')]);
    expect((JSON.parse(listed.stdout) as { name: string }[]).map((s) => s.name)).toEqual(['nightly backup']);
    const parsed = JSON.parse(stats.stdout) as {
      queues: Record<string, Record<string, number>>;
      app: { sourceAccountId: string; totals: Record<string, number> };
    };
    expect(Object.keys(parsed.queues).sort()).toEqual([...config.queues].sort());
    expect(parsed.app).toMatchObject({ sourceAccountId: account, totals: { failed: 1 } });
  }, 180_000);
});
