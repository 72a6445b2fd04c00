import amqp, { type ChannelModel } from 'amqplib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_SECRET, testInfra, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { db, quietLogger, startStandIn, testConfig, type StandIn } from './helpers.js';

const exchange = uniqueName('ex');
const { config } = testConfig({
  JOBS_HTTP_ALLOWED_CIDRS: '127.0.0.1/32',
  AMQP_URL: testInfra().amqpUrl,
  EVENTS_EXCHANGE: exchange,
});
const [mainQueue, backlogQueue] = config.queues as [string, string];
let api: ApiServer;
let worker: WorkerProcess;
let target: StandIn;
let amqpConnection: ChannelModel;
const events: { type: string; sourceAccountId: string; data: Record<string, unknown> }[] = [];

/** What the stand-in answers, by path. */
const behaviour: Record<string, { status: number; body?: unknown; hang?: boolean }> = {};

const adminOf = (account: string) => ({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account });

beforeAll(async () => {
  target = await startStandIn((req, res) => {
    const path = req.url.split('?')[0]!;
    const rule = behaviour[path] ?? { status: 200, body: { ok: true } };
    if (rule.hang) return; // never answers
    res.writeHead(rule.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(rule.body ?? {}));
  });
  amqpConnection = await amqp.connect(testInfra().amqpUrl);
  const channel = await amqpConnection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, exchange, 'job.*');
  await channel.consume(queue, (message) => {
    if (message) events.push(JSON.parse(message.content.toString()) as (typeof events)[number]);
  }, { noAck: true });
  api = await startApiServer(config, quietLogger());
  worker = await startWorkerProcess(config, quietLogger(), [mainQueue]);
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await target?.close();
  await amqpConnection?.close();
});

const add = (account: string, body: Record<string, unknown>) =>
  request(api.app).post('/v1/jobs').set(adminOf(account)).send(body);

async function finished(account: string, id: string, timeoutMs = 20_000) {
  return waitFor(
    async () => {
      const job = await db().job.findUnique({ where: { id }, include: { failures: { orderBy: { attempt: 'asc' } }, result: true } });
      return job && ['completed', 'failed', 'cancelled'].includes(job.status) ? job : null;
    },
    { timeoutMs, intervalMs: 50, label: `job ${id} (${account}) to finish` },
  );
}

describe('processing', () => {
  it('runs a backlog in priority order: unprioritized first, then lower numbers first', async () => {
    const account = uniqueName('acc');
    const priorities = [5, 1, 3, undefined, 10, 2];
    for (const priority of priorities) {
      const res = await add(account, {
        type: 'http-request',
        queue: backlogQueue,
        payload: { url: `${target.url}/order/${priority ?? 'none'}` },
        ...(priority ? { priority } : {}),
      });
      expect(res.status).toBe(201);
    }
    // Only now a worker for that queue starts, with concurrency 1: the backlog is drained in order.
    const backlogWorker = await startWorkerProcess(config, quietLogger(), [backlogQueue], { concurrency: 1 });
    try {
      await waitFor(() => target.requests.filter((r) => r.url.startsWith('/order/')).length === priorities.length, {
        timeoutMs: 20_000,
        label: 'backlog to drain',
      });
    } finally {
      await backlogWorker.stop();
    }
    const order = target.requests.filter((r) => r.url.startsWith('/order/')).map((r) => r.url.slice('/order/'.length));
    expect(order).toEqual(['none', '1', '2', '3', '5', '10']);
  });

  it('starts a delayed job only once its delay is over', async () => {
    const account = uniqueName('acc');
    const path = `/delayed/${uniqueName('d')}`;
    const before = Date.now();
    const res = await add(account, { type: 'http-request', queue: mainQueue, delay: 1500, payload: { url: `${target.url}${path}` } });
    expect(res.body.status).toBe('delayed');
    const call = await waitFor(() => target.requests.find((r) => r.url === path), { timeoutMs: 15_000, label: 'delayed call' });
    expect(call.at - before).toBeGreaterThanOrEqual(1500);
    const job = await finished(account, res.body.id);
    expect(job.status).toBe('completed');
    expect(job.startedAt!.getTime() - job.createdAt.getTime()).toBeGreaterThanOrEqual(1500);
  });

  it('retries with exponential backoff, then records every failed attempt and publishes job.failed', async () => {
    const account = uniqueName('acc');
    const path = `/flaky/${uniqueName('f')}`;
    behaviour[path] = { status: 503, body: { error: 'down' } };
    const res = await add(account, {
      type: 'http-request',
      queue: mainQueue,
      attempts: 3,
      backoff: { type: 'exponential', delay: 300 },
      payload: { url: `${target.url}${path}` },
    });
    const job = await finished(account, res.body.id);
    expect(job.status).toBe('failed');
    expect(job.attemptsMade).toBe(3);
    const calls = target.requests.filter((r) => r.url === path).map((r) => r.at);
    expect(calls).toHaveLength(3);
    // Exponential: ≥ 300 ms before the 2nd attempt, ≥ 600 ms before the 3rd.
    expect(calls[1]! - calls[0]!).toBeGreaterThanOrEqual(300 - 5);
    expect(calls[2]! - calls[1]!).toBeGreaterThanOrEqual(600 - 5);
    expect(job.failures.map((f) => [f.attempt, f.isFinal, f.errorName])).toEqual([
      [1, false, 'HTTP_STATUS'],
      [2, false, 'HTTP_STATUS'],
      [3, true, 'HTTP_STATUS'],
    ]);
    expect(job.failures[2]!.error).toContain('503');
    const event = await waitFor(() => events.find((e) => e.type === 'job.failed' && e.data.jobId === res.body.id), {
      timeoutMs: 10_000,
      label: 'job.failed event',
    });
    expect(event).toMatchObject({ sourceAccountId: account, data: { queue: mainQueue, type: 'http-request', attempts: 3 } });

    // Retried over the API once the target is back: a fresh attempt budget, attempt numbers continue.
    behaviour[path] = { status: 200, body: { recovered: true } };
    const retried = await request(api.app).post(`/v1/jobs/${res.body.id}/retry`).set(adminOf(account));
    expect(retried.status).toBe(200);
    const done = await waitFor(async () => {
      const row = await db().job.findUnique({ where: { id: res.body.id }, include: { result: true } });
      return row?.status === 'completed' ? row : null;
    }, { timeoutMs: 15_000, label: 'retried job to complete' });
    expect(done.result?.result).toMatchObject({ status: 200, body: { recovered: true } });
    const view = await request(api.app).get(`/v1/jobs/${res.body.id}`).set(adminOf(account));
    expect(view.body).toMatchObject({ status: 'completed', result: { status: 200 } });
    expect(view.body.failures).toHaveLength(3);
    expect((await request(api.app).post(`/v1/jobs/${res.body.id}/retry`).set(adminOf(account))).status).toBe(409);
  });

  it('fails an attempt that outlives its timeout and retries it', async () => {
    const account = uniqueName('acc');
    const path = `/hang/${uniqueName('h')}`;
    behaviour[path] = { status: 200, hang: true };
    const res = await add(account, {
      type: 'http-request',
      queue: mainQueue,
      timeout: 400,
      attempts: 2,
      backoff: { type: 'fixed', delay: 50 },
      payload: { url: `${target.url}${path}` },
    });
    const job = await finished(account, res.body.id);
    expect(job.status).toBe('failed');
    expect(job.failures.map((f) => f.errorName)).toEqual(['JOB_TIMEOUT', 'JOB_TIMEOUT']);
    expect(job.failures[1]!.isFinal).toBe(true);
    expect(target.requests.filter((r) => r.url === path)).toHaveLength(2);
  });

  it('mirrors the result of a completed job', async () => {
    const account = uniqueName('acc');
    const path = `/json/${uniqueName('j')}`;
    behaviour[path] = { status: 201, body: { created: 42 } };
    const res = await add(account, {
      type: 'http-request',
      queue: mainQueue,
      payload: { url: `${target.url}${path}`, method: 'POST', body: { hello: 'world' } },
    });
    const job = await finished(account, res.body.id);
    expect(job.status).toBe('completed');
    expect(job.result?.result).toMatchObject({ status: 201, body: { created: 42 } });
    expect(job.result?.durationMs).toBeGreaterThanOrEqual(0);
    const call = target.requests.find((r) => r.url === path)!;
    expect(call.method).toBe('POST');
    expect(JSON.parse(call.body)).toEqual({ hello: 'world' });
    expect(call.headers['content-type']).toBe('application/json');
  });

  it('fails a job with an invalid payload at once, without retries', async () => {
    const account = uniqueName('acc');
    // Added straight to BullMQ (as another producer could), bypassing the API's validation.
    const queue = api.queues.get(mainQueue);
    const job = await queue.add('http-request', {
      payload: { url: 'not a url' },
      meta: { id: undefined, sourceAccountId: account, createdBy: null, timeoutMs: 5000 },
    }, { attempts: 3 });
    await waitFor(async () => (await job.getState()) === 'failed', { timeoutMs: 15_000, label: 'invalid job to fail' });
    const fresh = await queue.getJob(job.id!);
    expect(fresh?.attemptsMade).toBe(1);
    expect(fresh?.failedReason).toMatch(/^INVALID_PAYLOAD/);
    const row = await waitFor(() => db().job.findFirst({ where: { sourceAccountId: account, status: 'failed' }, include: { failures: true } }), {
      label: 'mirror row of a job added outside the API',
    });
    expect(row.failures[0]).toMatchObject({ errorName: 'INVALID_PAYLOAD', isFinal: true });
  });

  it('keeps the mirror going when a job copies another job’s id or carries data Postgres refuses', async () => {
    const account = uniqueName('acc');
    const nul = await add(account, { type: 'noop', queue: mainQueue, payload: { sleepMs: 0, note: 'a\u0000b' } });
    expect(nul.status).toBe(400);
    const original = await add(account, { type: 'noop', queue: mainQueue });
    const done = await finished(account, original.body.id as string);
    expect(done.status).toBe('completed');
    // Producers outside the API: a copy of the original's data (same meta.id) and a NUL in the payload.
    const queue = api.queues.get(mainQueue);
    const live = await queue.getJob(done.bullmqId);
    const copy = await queue.add('noop', live!.data);
    const poison = await queue.add('noop', { payload: { sleepMs: 1, x: 'a\u0000b' } as never, meta: { sourceAccountId: account, createdBy: null, timeoutMs: 5000 } });
    const after = await add(account, { type: 'noop', queue: mainQueue });
    await finished(account, after.body.id as string);
    const copyRow = await waitFor(() => db().job.findFirst({ where: { queue: mainQueue, bullmqId: copy.id!, status: 'completed' } }), {
      label: 'row of the copied job',
    });
    expect(copyRow.id).not.toBe(original.body.id);
    expect((await db().job.findUnique({ where: { id: original.body.id as string } }))?.bullmqId).toBe(done.bullmqId);
    await waitFor(async () => (await poison.getState()) === 'failed' || (await poison.getState()) === 'completed', { label: 'poison job to finish' });
    expect(await db().job.findFirst({ where: { queue: mainQueue, bullmqId: poison.id! } })).toBeNull();
  });
});
