import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '@nself/test-support';
import { loadNotificationsConfig } from '../src/config.js';
import { startApi, startWorker, type RunningProcess } from '../src/runtime.js';
import { admin, parseMail, quietLogger, testEnv, withDb } from './helpers.js';
import {
  canRunPrivateRabbit,
  createPrivateRabbit,
  spawnWorker,
  startHoldingReceiver,
  type HoldingReceiver,
  type PrivateRabbit,
  type SpawnedWorker,
} from './processes.js';

const template = {
  name: 'news',
  subject: 'News #{{n}}',
  bodyText: 'Issue {{n}}',
  variables: [{ name: 'n', required: true }],
};

async function notificationIdsReceived(receiver: HoldingReceiver): Promise<string[]> {
  return Promise.all(receiver.messages.map(async (m) => String((await parseMail(m.raw)).headers.get('x-notification-id'))));
}

async function statusCounts(account: string): Promise<Record<string, number>> {
  return withDb(async (db) => {
    const { rows } = await db.query<{ status: string; n: number }>(
      'SELECT status, count(*)::int AS n FROM notifications WHERE source_account_id = $1 GROUP BY status',
      [account],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  });
}

async function bulk(base: string, account: string, from: number, count: number) {
  const recipients = Array.from({ length: count }, (_, i) => ({
    userId: `user-${from + i}`,
    to: { email: `user-${from + i}@example.com` },
  }));
  const res = await request(base)
    .post('/v1/notifications/bulk')
    .set(admin(account))
    .send({ template: 'news', data: { n: 7 }, recipients });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
  expect(res.body.queued).toBe(count);
  return res.body;
}

describe('notifications under failure', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });

  it('loses nothing and sends nothing twice when the worker is stopped (SIGTERM) or killed (SIGKILL) mid-batch', async () => {
    const receiver = await startHoldingReceiver({ delayMs: 5 });
    cleanups.push(() => receiver.close());
    const env = testEnv({
      NOTIFICATIONS_SMTP_URL: `smtp://127.0.0.1:${receiver.port}?ignoreTLS=true`,
      NOTIFICATIONS_CONCURRENCY: '4',
      NOTIFICATIONS_PREFETCH: '2',
      NOTIFICATIONS_SMTP_POOL_SIZE: '4',
      NOTIFICATIONS_BULK_CHUNK: '50',
      NOTIFICATIONS_CLAIM_LEASE_MS: '3000',
    });
    const api = await startApi(loadNotificationsConfig(env), { logger: quietLogger(), port: 0 });
    cleanups.push(() => api.stop());
    const base = `http://127.0.0.1:${api.port}`;
    const account = uniqueName('acct');
    await request(base).post('/v1/templates').set(admin(account)).send(template).expect(201);

    let worker: SpawnedWorker = await spawnWorker(env);
    cleanups.push(() => worker.kill());
    await bulk(base, account, 0, 300);

    // 1. A graceful stop mid-batch: the sends in hand finish and are recorded, the rest goes back to
    //    the queue; nothing is left claimed.
    await waitFor(() => receiver.messages.length >= 50, { timeoutMs: 30_000, label: '50 deliveries' });
    await worker.kill('SIGTERM');
    expect(worker.process.exitCode).toBe(0);
    const afterStop = await statusCounts(account);
    expect(afterStop.sending ?? 0).toBe(0);
    expect(afterStop.sent).toBe(receiver.messages.length);
    expect(afterStop.sent).toBeLessThan(300);

    // 2. kill -9 mid-batch, with sends in flight on the SMTP connections. The receiver's replies are
    //    frozen first, so the sends in flight are provably not accepted yet, and the worker records
    //    what was accepted before (a message accepted but not yet recorded at the instant of a crash is
    //    the one case no sender can resolve alone: see the README).
    worker = await spawnWorker(env);
    await waitFor(() => receiver.messages.length >= 150, { timeoutMs: 30_000, label: '150 deliveries' });
    receiver.hold();
    await waitFor(() => receiver.held() >= 1, { timeoutMs: 10_000, label: 'a send in flight' });
    await waitFor(async () => (await statusCounts(account)).sent === receiver.messages.length, {
      timeoutMs: 10_000,
      label: 'the accepted messages to be recorded',
    });
    await worker.kill('SIGKILL');
    expect(receiver.messages.length).toBeLessThan(300);
    const held = receiver.held();
    await waitFor(() => receiver.heldOpen() === 0, { timeoutMs: 10_000, label: 'the dead worker’s connections to close' });
    receiver.release();
    await waitFor(() => receiver.discarded() === held, { label: 'the unacknowledged transactions to be dropped' });
    const counts = await statusCounts(account);
    expect(counts.sending, 'claims the dead worker left behind').toBeGreaterThanOrEqual(1);

    worker = await spawnWorker(env);
    await waitFor(async () => (await statusCounts(account)).sent === 300, { timeoutMs: 60_000, label: 'all 300 sent' });
    await new Promise((r) => setTimeout(r, 500));
    const ids = await notificationIdsReceived(receiver);
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);
    // The claims of the killed worker were taken over (and logged as in doubt); the stopped one left none.
    const inDoubt = await withDb(async (db) =>
      (await db.query(`SELECT count(*)::int AS n FROM notification_queue WHERE source_account_id = $1 AND status = 'in_doubt'`, [account])).rows[0].n,
    );
    expect(inDoubt).toBe(counts.sending);
    await worker.kill('SIGTERM');
  }, 180_000);

  it.skipIf(!canRunPrivateRabbit())(
    'loses nothing and sends nothing twice across a RabbitMQ restart (private broker node)',
    async () => {
      const rabbit: PrivateRabbit = await createPrivateRabbit();
      cleanups.push(() => rabbit.destroy());
      await rabbit.start();
      const receiver = await startHoldingReceiver({ delayMs: 15 });
      cleanups.push(() => receiver.close());
      const env = testEnv({
        AMQP_URL: rabbit.url,
        NOTIFICATIONS_SMTP_URL: `smtp://127.0.0.1:${receiver.port}?ignoreTLS=true`,
        NOTIFICATIONS_CONCURRENCY: '4',
        NOTIFICATIONS_SMTP_POOL_SIZE: '4',
        NOTIFICATIONS_PREFETCH: '2',
        NOTIFICATIONS_BULK_CHUNK: '20',
        NOTIFICATIONS_PUBLISH_TIMEOUT_MS: '1000',
      });
      const config = loadNotificationsConfig(env);
      const api: RunningProcess = await startApi(config, { logger: quietLogger(), port: 0 });
      cleanups.push(() => api.stop());
      const worker: RunningProcess = await startWorker(config, { logger: quietLogger('worker'), port: 0 });
      cleanups.push(() => worker.stop());
      const base = `http://127.0.0.1:${api.port}`;
      const account = uniqueName('acct');
      await request(base).post('/v1/templates').set(admin(account)).send(template).expect(201);

      await bulk(base, account, 0, 200);
      await waitFor(() => receiver.messages.length >= 40, { timeoutMs: 30_000, label: '40 deliveries' });
      await rabbit.stop();
      expect(receiver.messages.length).toBeLessThan(200);
      // While the broker is down the API still accepts: rows are committed, the relay publishes later.
      await bulk(base, account, 200, 100);
      const ready = await request(base).get('/ready');
      expect(ready.status).toBe(503);
      await rabbit.start();

      await waitFor(async () => (await statusCounts(account)).sent === 300, { timeoutMs: 90_000, intervalMs: 250, label: 'all 300 sent' });
      await new Promise((r) => setTimeout(r, 1000));
      const ids = await notificationIdsReceived(receiver);
      expect(ids).toHaveLength(300);
      expect(new Set(ids).size).toBe(300);
      await waitFor(async () => (await request(base).get('/ready')).status === 200, { timeoutMs: 30_000, label: 'API ready again' });
    },
    240_000,
  );
});
