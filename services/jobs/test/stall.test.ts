import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_SECRET, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, type ApiServer } from '../src/runtime.js';
import { db, quietLogger, spawnService, startStandIn, testConfig, type ServiceProcess, type StandIn } from './helpers.js';

describe('a worker process killed with SIGKILL mid-job', () => {
  // Short locks so stall detection happens within seconds (defaults: 30 s).
  const { config, env } = testConfig({
    JOBS_HTTP_ALLOWED_CIDRS: '127.0.0.1/32',
    JOBS_LOCK_DURATION: '2000',
    JOBS_STALLED_INTERVAL: '1000',
  });
  const [queue] = config.queues as [string];
  let api: ApiServer;
  let target: StandIn;
  const workers: ServiceProcess[] = [];
  const seen = new Map<string, number>();

  beforeAll(async () => {
    // The first call of each job hangs (the worker is killed while waiting); later calls succeed.
    target = await startStandIn((req, res) => {
      const count = (seen.get(req.url) ?? 0) + 1;
      seen.set(req.url, count);
      if (count === 1) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ attempt: count }));
    });
    api = await startApiServer(config, quietLogger());
  });

  afterAll(async () => {
    for (const w of workers) await w.kill9();
    await api?.stop();
    await target?.close();
  });

  it('loses no job: each is retried by another worker after stall detection', async () => {
    workers.push(await spawnService('services/jobs/src/worker.ts', env, [queue]));
    const account = uniqueName('acc');
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await request(api.app)
        .post('/v1/jobs')
        .set({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account })
        .send({ type: 'http-request', queue, attempts: 1, payload: { url: `${target.url}/work/${i}` } });
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    await waitFor(() => seen.size === 3, { timeoutMs: 30_000, label: 'all three jobs running in the first worker' });
    await workers[0]!.kill9();

    workers.push(await spawnService('services/jobs/src/worker.ts', env, [queue]));
    const rows = await waitFor(
      async () => {
        const all = await db().job.findMany({ where: { id: { in: ids } }, include: { failures: true, result: true } });
        return all.length === 3 && all.every((j) => j.status === 'completed') ? all : null;
      },
      { timeoutMs: 40_000, intervalMs: 100, label: 'the stalled jobs to complete in the second worker' },
    );
    for (const row of rows) {
      expect(row.failures).toEqual([]);
      expect(row.result?.result).toMatchObject({ status: 200, body: { attempt: 2 } });
      const job = await api.queues.get(queue).getJob(row.bullmqId);
      expect(job?.attemptsStarted).toBe(2);
    }
    expect([...seen.values()]).toEqual([2, 2, 2]);
    const metrics = await fetch(`http://127.0.0.1:${workers[1]!.port}/metrics`).then((r) => r.text());
    const stalled = /jobs_stalled_total\{[^}]*queue="[^"]+"[^}]*\} (\d+)/.exec(metrics);
    expect(Number(stalled?.[1] ?? 0)).toBe(3);
    // The worker's per-job metrics render as Prometheus series.
    expect(metrics).toMatch(/jobs_processed_total\{[^}]*outcome="completed"[^}]*\} 3/);
    expect(metrics).toMatch(/jobs_duration_seconds_bucket\{[^}]*le="\+Inf"[^}]*\} 3/);
    expect(metrics).toMatch(/jobs_duration_seconds_count\{[^}]*type="http-request"[^}]*\} 3/);
    expect(metrics).toMatch(/# TYPE jobs_wait_seconds histogram/);
    const health = await fetch(`http://127.0.0.1:${workers[1]!.port}/ready`);
    expect(health.status).toBe(200);
    expect(((await health.json()) as { checks: Record<string, unknown> }).checks).toHaveProperty('workers');
  }, 120_000);
});
