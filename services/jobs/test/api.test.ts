import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, describeServiceContract, TEST_ADMIN_SECRET, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { db, quietLogger, testConfig } from './helpers.js';

const { config } = testConfig();
const [queue, otherQueue] = config.queues as [string, string];
let api: ApiServer;
let worker: WorkerProcess | undefined;

const adminOf = (account: string) => ({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account });

beforeAll(async () => {
  api = await startApiServer(config, quietLogger());
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
});

describeServiceContract('jobs', () => ({ app: api.app, protectedRoute: { method: 'get', path: '/v1/jobs' } }));

describe('adding jobs', () => {
  it('validates the request and names the offending fields', async () => {
    const account = uniqueName('acc');
    const bad = await request(api.app)
      .post('/v1/jobs')
      .set(adminOf(account))
      .send({ type: 'http-request', payload: { url: 'ftp://example.com' }, priority: 0 });
    expect(bad.status).toBe(400);
    expect(bad.headers['content-type']).toMatch(/problem\+json/);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toContain('priority');

    const payload = await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'http-request', payload: { method: 'GET' } });
    expect(payload.status).toBe(400);
    expect(payload.body.errors.map((e: { field: string }) => e.field)).toContain('payload.url');

    const unknownType = await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'not-registered', payload: {} });
    expect(unknownType.status).toBe(400);
    expect(unknownType.body.code).toBe('UNKNOWN_JOB_TYPE');

    const unknownQueue = await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'noop', queue: 'nope' });
    expect(unknownQueue.status).toBe(400);
    expect(unknownQueue.body.code).toBe('UNKNOWN_QUEUE');

    const tooLong = await request(api.app)
      .post('/v1/jobs')
      .set(adminOf(account))
      .send({ type: 'noop', timeout: config.maxJobTimeoutMs + 1 });
    expect(tooLong.status).toBe(400);
    expect(await db().job.count({ where: { sourceAccountId: account } })).toBe(0);
  });

  it('creates a job that can be read back at once, with BullMQ and Postgres agreeing', async () => {
    const account = uniqueName('acc');
    const created = await request(api.app)
      .post('/v1/jobs')
      .set(bearer({ sub: 'u1', sourceAccountId: account }))
      .send({ type: 'noop', queue: otherQueue, priority: 7, delay: 60_000, attempts: 2 });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ queue: otherQueue, type: 'noop', status: 'delayed', priority: 7, maxAttempts: 2 });
    const row = await db().job.findUnique({ where: { id: created.body.id } });
    expect(row).toMatchObject({ sourceAccountId: account, createdBy: 'u1', status: 'delayed', delayMs: 60_000 });
    const live = await api.queues.get(otherQueue).getJob(row!.bullmqId);
    expect(live?.data.meta.id).toBe(created.body.id);
    expect(live?.opts.priority).toBe(7);

    const read = await request(api.app).get(`/v1/jobs/${created.body.id}`).set(bearer({ sub: 'u1', sourceAccountId: account }));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: created.body.id, status: 'delayed', failures: [], result: null });
  });

  it('deduplicates by jobId within an app, never across apps', async () => {
    const a = uniqueName('acc');
    const b = uniqueName('acc');
    const body = { type: 'noop', queue, delay: 60_000, jobId: 'nightly-report-2026-11-23' };
    const first = await request(api.app).post('/v1/jobs').set(adminOf(a)).send(body);
    const second = await request(api.app).post('/v1/jobs').set(adminOf(a)).send(body);
    const otherApp = await request(api.app).post('/v1/jobs').set(adminOf(b)).send(body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ id: first.body.id, deduplicated: true });
    expect(otherApp.status).toBe(201);
    expect(otherApp.body.id).not.toBe(first.body.id);
    expect(await api.queues.get(queue).getJob(`${a}.nightly-report-2026-11-23`)).toBeDefined();
    expect(await db().job.count({ where: { sourceAccountId: a } })).toBe(1);
  });

  it('keeps job types that act on shared infrastructure for admins and operators', async () => {
    const account = uniqueName('acc');
    const user = bearer({ sub: 'u1', sourceAccountId: account });
    const tenantAdmin = bearer({ sub: 'a1', roles: ['admin'], sourceAccountId: account });
    const backup = { type: 'database-backup', payload: {}, delay: 60_000 };
    expect((await request(api.app).post('/v1/jobs').set(user).send(backup)).status).toBe(403);
    expect((await request(api.app).post('/v1/jobs').set(tenantAdmin).send(backup)).status).toBe(403);
    const operator = bearer({ sub: 'op', roles: ['admin'], sourceAccountId: 'primary' });
    expect((await request(api.app).post('/v1/jobs').set(operator).send(backup)).status).toBe(201);

    const cache = { type: 'cache-clear', payload: { pattern: '*' }, delay: 60_000 };
    expect((await request(api.app).post('/v1/jobs').set(user).send(cache)).status).toBe(403);
    expect((await request(api.app).post('/v1/jobs').set(tenantAdmin).send(cache)).status).toBe(201);

    const email = (userId: string) => ({ type: 'send-email', payload: { userId, template: 'welcome' }, delay: 60_000 });
    expect((await request(api.app).post('/v1/jobs').set(user).send(email('someone-else'))).status).toBe(403);
    expect((await request(api.app).post('/v1/jobs').set(user).send(email('u1'))).status).toBe(201);
  });
});

describe('isolation between apps and users', () => {
  it('never shows one app the jobs of another, and users only their own', async () => {
    const a = uniqueName('acc');
    const b = uniqueName('acc');
    const alice = bearer({ sub: 'alice', sourceAccountId: a });
    const bob = bearer({ sub: 'bob', sourceAccountId: a });
    const mallory = bearer({ sub: 'alice', sourceAccountId: b });
    const job = await request(api.app).post('/v1/jobs').set(alice).send({ type: 'noop', delay: 60_000 });
    await request(api.app).post('/v1/jobs').set(bob).send({ type: 'noop', delay: 60_000 });

    expect((await request(api.app).get(`/v1/jobs/${job.body.id}`).set(alice)).status).toBe(200);
    expect((await request(api.app).get(`/v1/jobs/${job.body.id}`).set(bob)).status).toBe(404);
    expect((await request(api.app).get(`/v1/jobs/${job.body.id}`).set(mallory)).status).toBe(404);
    expect((await request(api.app).delete(`/v1/jobs/${job.body.id}`).set(mallory)).status).toBe(404);
    expect((await request(api.app).post(`/v1/jobs/${job.body.id}/retry`).set(mallory)).status).toBe(404);

    const aliceList = await request(api.app).get('/v1/jobs').set(alice);
    expect(aliceList.body.items.map((j: { createdBy: string }) => j.createdBy)).toEqual(['alice']);
    const adminList = await request(api.app).get('/v1/jobs').set(adminOf(a));
    expect(adminList.body.items).toHaveLength(2);
    expect((await request(api.app).get('/v1/jobs').set(mallory)).body.items).toEqual([]);
    expect((await request(api.app).get('/v1/stats').set(bob)).status).toBe(403);
    const stats = await request(api.app).get('/v1/stats').set(bearer({ sub: 'x', roles: ['admin'], sourceAccountId: a }));
    expect(stats.body).toMatchObject({ sourceAccountId: a, totals: { delayed: 2 } });
    expect(stats.body.live).toBeUndefined();
  });

  it('lists with filters and a cursor', async () => {
    const account = uniqueName('acc');
    for (let i = 0; i < 5; i += 1) {
      await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'noop', queue: i % 2 ? queue : otherQueue, delay: 60_000 });
    }
    const page1 = await request(api.app).get('/v1/jobs').query({ limit: 2 }).set(adminOf(account));
    expect(page1.body.items).toHaveLength(2);
    const page2 = await request(api.app).get('/v1/jobs').query({ limit: 2, cursor: page1.body.nextCursor }).set(adminOf(account));
    const page3 = await request(api.app).get('/v1/jobs').query({ limit: 2, cursor: page2.body.nextCursor }).set(adminOf(account));
    const ids = [...page1.body.items, ...page2.body.items, ...page3.body.items].map((j: { id: string }) => j.id);
    expect(new Set(ids).size).toBe(5);
    expect(page3.body.nextCursor).toBeNull();
    const filtered = await request(api.app).get('/v1/jobs').query({ queue: otherQueue, status: 'delayed' }).set(adminOf(account));
    expect(filtered.body.items).toHaveLength(3);
    expect((await request(api.app).get('/v1/jobs').query({ status: 'bogus' }).set(adminOf(account))).status).toBe(400);
  });
});

describe('cancel', () => {
  it('removes a waiting job at once and refuses to cancel it twice', async () => {
    const account = uniqueName('acc');
    const job = await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'noop', delay: 60_000 });
    const cancelled = await request(api.app).delete(`/v1/jobs/${job.body.id}`).set(adminOf(account));
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const row = await db().job.findUnique({ where: { id: job.body.id } });
    expect(row?.status).toBe('cancelled');
    expect(await api.queues.get(queue).getJob(row!.bullmqId)).toBeUndefined();
    expect((await request(api.app).delete(`/v1/jobs/${job.body.id}`).set(adminOf(account))).status).toBe(409);
  });

  it('aborts a running job in the worker process and records it as cancelled, without retries', async () => {
    worker ??= await startWorkerProcess(config, quietLogger());
    const account = uniqueName('acc');
    const job = await request(api.app).post('/v1/jobs').set(adminOf(account)).send({ type: 'noop', payload: { sleepMs: 60_000 }, attempts: 3 });
    await waitFor(async () => (await request(api.app).get(`/v1/jobs/${job.body.id}`).set(adminOf(account))).body.status === 'active', {
      timeoutMs: 15_000,
      label: 'job to start',
    });
    const cancelled = await request(api.app).delete(`/v1/jobs/${job.body.id}`).set(adminOf(account));
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    const failures = await waitFor(async () => {
      const rows = await db().jobFailure.findMany({ where: { jobId: job.body.id } });
      return rows.length ? rows : null;
    }, { timeoutMs: 10_000, label: 'cancel to be recorded' });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ errorName: 'JOB_CANCELLED', isFinal: true });
    expect((await db().job.findUnique({ where: { id: job.body.id } }))?.status).toBe('cancelled');
  });
});

describe('Hasura Action addJob', () => {
  it('creates the job for the session user and app, and answers errors in Hasura’s shape', async () => {
    const account = uniqueName('acc');
    const action = (input: Record<string, unknown>) => ({
      action: { name: 'addJob' },
      input,
      session_variables: { 'x-hasura-role': 'user', 'x-hasura-user-id': 'hasura-user-7', 'x-hasura-source-account-id': account },
      request_query: 'mutation { addJob(type: "noop") { id } }',
    });
    const ok = await request(api.app)
      .post('/v1/actions/addJob')
      .set({ 'x-admin-secret': TEST_ADMIN_SECRET })
      .send(action({ type: 'noop', delay: 60_000 }));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'delayed', type: 'noop', deduplicated: false });
    expect(await db().job.findUnique({ where: { id: ok.body.id } })).toMatchObject({ sourceAccountId: account, createdBy: 'hasura-user-7' });

    const unsigned = await request(api.app).post('/v1/actions/addJob').send(action({ type: 'noop' }));
    expect(unsigned.status).toBe(401);
    expect(unsigned.body.extensions.code).toBe('UNAUTHORIZED');
    const forbidden = await request(api.app)
      .post('/v1/actions/addJob')
      .set({ 'x-admin-secret': TEST_ADMIN_SECRET })
      .send(action({ type: 'database-backup' }));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ message: expect.any(String), extensions: { code: 'JOB_TYPE_FORBIDDEN' } });
    const invalid = await request(api.app).post('/v1/actions/addJob').set({ 'x-admin-secret': TEST_ADMIN_SECRET }).send(action({ priority: 1 }));
    expect(invalid.status).toBe(400);
    expect(invalid.body.extensions.code).toBe('VALIDATION_FAILED');
  });
});
