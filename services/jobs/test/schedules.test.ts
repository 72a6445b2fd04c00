import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, TEST_ADMIN_SECRET, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { schedulerIdOf } from '../src/use-cases/schedules.js';
import { db, quietLogger, spawnService, startStandIn, testConfig, type ServiceProcess, type StandIn } from './helpers.js';

const adminOf = (account: string) => ({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account });
let target: StandIn;

beforeAll(async () => {
  target = await startStandIn((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  });
});
afterAll(async () => {
  await target?.close();
});

const callsTo = (path: string) => target.requests.filter((r) => r.url === path);

describe('schedules (in-process)', () => {
  const { config } = testConfig({ JOBS_HTTP_ALLOWED_CIDRS: '127.0.0.1/32' });
  const [queue] = config.queues as [string];
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

  it('refuses a bad cron expression or time zone with a 400 and a clear code', async () => {
    const account = uniqueName('acc');
    for (const cron of ['not a cron', '61 * * * *', '* * * * * * *', '']) {
      const res = await request(api.app).post('/v1/schedules').set(adminOf(account)).send({ name: 'bad', cron, type: 'noop' });
      expect(res.status, cron).toBe(400);
      expect(['INVALID_CRON', 'VALIDATION_FAILED']).toContain(res.body.code);
      if (cron) expect(res.body.code).toBe('INVALID_CRON');
    }
    const tz = await request(api.app)
      .post('/v1/schedules')
      .set(adminOf(account))
      .send({ name: 'bad-tz', cron: '0 9 * * *', timezone: 'Mars/Olympus_Mons', type: 'noop' });
    expect(tz.status).toBe(400);
    expect(tz.body.code).toBe('INVALID_TIMEZONE');
    expect(await db().jobSchedule.count({ where: { sourceAccountId: account } })).toBe(0);
    const user = await request(api.app).post('/v1/schedules').set(bearer({ sourceAccountId: account })).send({ name: 'x', cron: '0 9 * * *', type: 'noop' });
    expect(user.status).toBe(403);
  });

  it('computes runs in the schedule’s time zone and installs a BullMQ job scheduler', async () => {
    const account = uniqueName('acc');
    const res = await request(api.app)
      .post('/v1/schedules')
      .set(adminOf(account))
      .send({ name: 'morning report', cron: '0 9 * * *', timezone: 'America/New_York', type: 'noop' });
    expect(res.status).toBe(201);
    const next = new Date(res.body.nextRunAt as string);
    const local = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).format(next);
    expect(local).toBe('09:00');
    expect([13, 14]).toContain(next.getUTCHours()); // EDT or EST
    const scheduler = await api.queues.get(queue).getJobScheduler(schedulerIdOf(res.body.id as string));
    expect(scheduler).toMatchObject({ pattern: '0 9 * * *', tz: 'America/New_York', next: next.getTime() });
    const duplicate = await request(api.app)
      .post('/v1/schedules')
      .set(adminOf(account))
      .send({ name: 'morning report', cron: '0 10 * * *', type: 'noop' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('SCHEDULE_EXISTS');
  });

  it('fires on time, records each run, and stops when disabled or deleted', async () => {
    const account = uniqueName('acc');
    const path = `/tick/${uniqueName('t')}`;
    const created = await request(api.app)
      .post('/v1/schedules')
      .set(adminOf(account))
      .send({ name: 'tick', cron: '*/2 * * * * *', type: 'http-request', payload: { url: `${target.url}${path}` } });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    await waitFor(() => callsTo(path).length >= 2, { timeoutMs: 20_000, label: 'two scheduled runs' });

    const runs = await waitFor(async () => {
      const rows = await db().job.findMany({ where: { scheduleId: id, status: 'completed' }, orderBy: { createdAt: 'asc' } });
      return rows.length >= 2 ? rows : null;
    }, { label: 'runs in the mirror' });
    for (const run of runs.slice(0, 2)) {
      const due = run.createdAt.getTime() + run.delayMs;
      expect(due % 2000).toBe(0); // on the cron's 2-second grid
      expect(run.startedAt!.getTime()).toBeGreaterThanOrEqual(due);
      expect(run.startedAt!.getTime() - due).toBeLessThan(5000);
      expect(run).toMatchObject({ sourceAccountId: account, type: 'http-request' });
    }
    const listed = await request(api.app).get('/v1/jobs').query({ scheduleId: id }).set(adminOf(account));
    expect(listed.body.items.length).toBeGreaterThanOrEqual(2);
    const schedule = await waitFor(async () => {
      const s = await request(api.app).get(`/v1/schedules/${id}`).set(adminOf(account));
      return s.body.lastRunAt ? s.body : null;
    }, { label: 'lastRunAt' });
    expect(new Date(schedule.lastRunAt as string).getTime() % 2000).toBe(0);

    const disabled = await request(api.app).patch(`/v1/schedules/${id}`).set(adminOf(account)).send({ enabled: false });
    expect(disabled.body).toMatchObject({ enabled: false, nextRunAt: null });
    expect(await api.queues.get(queue).getJobScheduler(schedulerIdOf(id))).toBeUndefined();
    const enabled = await request(api.app).patch(`/v1/schedules/${id}`).set(adminOf(account)).send({ enabled: true });
    expect(enabled.body.enabled).toBe(true);
    expect(await api.queues.get(queue).getJobScheduler(schedulerIdOf(id))).toBeDefined();

    expect((await request(api.app).delete(`/v1/schedules/${id}`).set(adminOf(account))).status).toBe(204);
    expect(await api.queues.get(queue).getJobScheduler(schedulerIdOf(id))).toBeUndefined();
    expect((await request(api.app).get(`/v1/schedules/${id}`).set(adminOf(account))).status).toBe(404);
    await new Promise((r) => setTimeout(r, 500));
    const settled = callsTo(path).length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(callsTo(path).length).toBe(settled);
  });
});

describe('a schedule survives restarts of the service', () => {
  const { config, env } = testConfig({ JOBS_HTTP_ALLOWED_CIDRS: '127.0.0.1/32', SHUTDOWN_TIMEOUT_MS: '4000' });
  const [queueName] = config.queues as [string];
  let api: ServiceProcess | undefined;
  let worker: ServiceProcess | undefined;
  let queue: Queue;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    queue = new Queue(queueName, { connection: redis, prefix: config.bullPrefix });
  });
  afterAll(async () => {
    await api?.kill9();
    await worker?.kill9();
    await queue?.close();
    redis?.disconnect();
  });

  it('keeps firing across an API restart, and is restored from Postgres when Redis lost it', async () => {
    [api, worker] = await Promise.all([
      spawnService('services/jobs/src/main.ts', env),
      spawnService('services/jobs/src/worker.ts', env, [queueName]),
    ]);
    const account = uniqueName('acc');
    const path = `/restart/${uniqueName('r')}`;
    const created = await request(`http://127.0.0.1:${api.port}`)
      .post('/v1/schedules')
      .set(adminOf(account))
      .send({ name: 'every second', cron: '* * * * * *', type: 'http-request', payload: { url: `${target.url}${path}` } });
    expect(created.status).toBe(201);
    const schedulerId = schedulerIdOf(created.body.id as string);
    await waitFor(() => callsTo(path).length >= 1, { timeoutMs: 20_000, label: 'first run' });

    // 1. Restart of the API (graceful): the schedule keeps firing, and is not duplicated.
    await api.stop();
    api = await spawnService('services/jobs/src/main.ts', env);
    const afterApiRestart = Date.now();
    await waitFor(() => callsTo(path).some((r) => r.at > afterApiRestart), { timeoutMs: 20_000, label: 'run after API restart' });
    expect((await queue.getJobSchedulers()).filter((s) => s.key === schedulerId)).toHaveLength(1);

    // 2. The API stops and Redis loses the scheduler (and its pending run): the next start of the API
    //    installs it again from job_schedules.
    await api.stop();
    await queue.removeJobScheduler(schedulerId);
    await queue.drain(true);
    expect(await queue.getJobScheduler(schedulerId)).toBeUndefined();
    const lostAt = Date.now();
    await new Promise((r) => setTimeout(r, 2500));
    // Nothing fired while the scheduler was gone (a run already in flight may finish in the first second).
    expect(callsTo(path).filter((r) => r.at > lostAt + 1000)).toHaveLength(0);
    api = await spawnService('services/jobs/src/main.ts', env);
    expect(await queue.getJobScheduler(schedulerId)).toMatchObject({ pattern: '* * * * * *' });
    const afterRestore = Date.now();
    await waitFor(() => callsTo(path).filter((r) => r.at > afterRestore).length >= 2, {
      timeoutMs: 20_000,
      label: 'runs after the restore',
    });
    const rows = await db().job.findMany({ where: { scheduleId: created.body.id as string, status: 'completed' } });
    expect(rows.length).toBeGreaterThanOrEqual(3);
  }, 180_000);
});
