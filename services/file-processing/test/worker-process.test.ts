import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '@nself/test-support';
import { photo } from './fixtures.js';
import { newUser, spawnEntry, startHarness, upload, type Harness, type SpawnedProcess } from './helpers.js';

let h: Harness;
const spawned: SpawnedProcess[] = [];

beforeAll(async () => {
  // The API in this process; workers as separate processes. A short lock lets the stalled-job check
  // notice a dead worker within seconds; AVIF at effort 4 makes the job long enough to kill it midway.
  h = await startHarness({
    env: {
      FILE_JOB_LOCK_MS: '2000',
      FILE_STALLED_INTERVAL_MS: '1000',
      FILE_AVIF_EFFORT: '4',
      FILE_WORKER_CONCURRENCY: '1',
      FILE_WORKER_PORT: '0',
      LOG_LEVEL: 'info',
    },
  });
});

afterAll(async () => {
  for (const p of spawned) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await h?.close();
});

async function startWorker(): Promise<{ process: SpawnedProcess; port: number }> {
  const worker = await spawnEntry('worker', h.env);
  spawned.push(worker);
  const ready = await worker.waitForLine((l) => l.msg === 'file-processing worker listening', 90_000);
  return { process: worker, port: ready.port as number };
}

describe('API process', { timeout: 120_000 }, () => {
  it('starts from src/main.ts, takes an upload, reports readiness and stops cleanly on SIGTERM', async () => {
    // Its own queue: the job it creates must not reach the workers of the tests below.
    const api = await spawnEntry('main', { ...h.env, FILE_PORT: '0', FILE_QUEUE_NAME: uniqueName('fpq-api') });
    spawned.push(api);
    const { port } = (await api.waitForLine((l) => l.msg === 'file-processing API listening', 90_000)) as { port: number };
    // Ready once its connections are up (RabbitMQ connects in the background after listening).
    const body = await waitFor(
      async () => {
        const ready = await fetch(`http://127.0.0.1:${port}/ready`);
        return ready.status === 200 ? ((await ready.json()) as { checks: Record<string, unknown> }) : null;
      },
      { timeoutMs: 30_000, intervalMs: 200, label: 'API /ready 200' },
    );
    expect(Object.keys(body.checks).sort()).toEqual(['database', 'rabbitmq', 'redis', 'storage']);
    const user = newUser();
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(await (await photo(64, 48)).png().toBuffer())]), 'tiny.png');
    const res = await fetch(`http://127.0.0.1:${port}/v1/files`, { method: 'POST', headers: user.headers, body: form });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { mimeType: string }).mimeType).toBe('image/png');
    api.child.kill('SIGTERM');
    expect(await api.exited).toBe(0);
    expect(api.lines.some((l) => l.msg === 'shutting down')).toBe(true);
  });
});

describe('worker process', { timeout: 240_000 }, () => {
  it('serves /health, /ready (with the media tools it found) and /metrics on its own port', async () => {
    const { process: worker, port } = await startWorker();
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    const body = (await ready.json()) as { status: string; checks: Record<string, { status: string }>; capabilities: Record<string, unknown> };
    expect(ready.status).toBe(200);
    expect(Object.keys(body.checks).sort()).toEqual(['clamd', 'database', 'rabbitmq', 'redis', 'storage']);
    expect(body.capabilities).toMatchObject({ virusScan: true, videoThumbnails: true, pdfThumbnails: true });
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);

    // SIGTERM: readiness goes, running work drains, the process exits 0.
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  });

  it('finishes a job exactly once when its worker is killed (-9) midway and a worker starts again', async () => {
    const user = newUser();
    const image = await (await photo(2400, 1600)).jpeg({ quality: 90 }).toBuffer();
    const res = await upload(h.app, user.headers, image, { filename: 'big.jpg', contentType: 'image/jpeg' });
    expect(res.status).toBe(202);
    const { fileId, jobId } = res.body as { fileId: string; jobId: string };

    const first = await startWorker();
    await h.waitForJob(jobId, ['running'], 60_000);
    first.process.child.kill('SIGKILL');
    await first.process.exited;
    // Killed midway: nothing was completed or announced.
    const afterKill = await h.runtime.repo.getJob(jobId);
    expect(afterKill?.status).toBe('running');
    expect(await h.runtime.repo.thumbnails(fileId)).toEqual([]);
    expect(h.events.forFile(fileId).some((e) => e.type === 'file.processed')).toBe(false);

    const second = await startWorker();
    const done = await h.waitForJob(jobId, ['completed', 'failed'], 120_000);
    expect(done.status).toBe('completed');
    expect(done.errorCode).toBeNull();

    // Exactly once: one set of results, one event, one BullMQ completion (recovered as stalled).
    expect(await h.runtime.repo.thumbnails(fileId)).toHaveLength(9);
    const file = await h.runtime.repo.getFile(fileId);
    expect(file?.status).toBe('ready');
    await waitFor(() => h.events.forFile(fileId).some((e) => e.type === 'file.processed'), { timeoutMs: 15_000, label: 'file.processed' });
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would arrive within this
    expect(h.events.forFile(fileId).filter((e) => e.type === 'file.processed')).toHaveLength(1);
    const keys = (await h.listKeys()).filter((k) => k.includes(fileId));
    expect(keys.filter((k) => k.includes('/thumbnails/'))).toHaveLength(9);
    const scans = await h.runtime.prisma.fileScan.findMany({ where: { fileId } });
    expect(scans.filter((s) => s.status === 'clean').length).toBeGreaterThanOrEqual(1);

    const connection = new Redis(h.config.redisUrl, { maxRetriesPerRequest: null });
    const queue = new Queue(h.config.queueName, { connection, prefix: h.config.queuePrefix });
    try {
      const job = await queue.getJob(jobId);
      expect(await job?.getState()).toBe('completed');
      expect(job?.stalledCounter).toBeGreaterThanOrEqual(1);
      expect((await queue.getJobCounts('completed')).completed).toBe(1);
    } finally {
      await queue.close();
      connection.disconnect();
    }
    second.process.child.kill('SIGTERM');
    expect(await second.process.exited).toBe(0);
  });
});
