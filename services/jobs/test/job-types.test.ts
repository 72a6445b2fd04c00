import { createHmac, timingSafeEqual } from 'node:crypto';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_ADMIN_SECRET, testInfra, uniqueName, waitFor } from '@nself/test-support';
import { startApiServer, startWorkerProcess, type ApiServer, type WorkerProcess } from '../src/runtime.js';
import { db, quietLogger, startStandIn, testConfig, type Recorded, type StandIn } from './helpers.js';

const infra = testInfra();
const bucket = uniqueName('jobs-bucket');
let notifications: StandIn;
let hooks: StandIn;
let api: ApiServer;
let worker: WorkerProcess;
let redis: Redis;
let s3: S3Client;
const { config } = testConfig({
  JOBS_HTTP_ALLOWED_CIDRS: '127.0.0.1/32',
  JOBS_S3_ENDPOINT: infra.s3.endpoint,
  JOBS_S3_BUCKET: bucket,
  JOBS_S3_ACCESS_KEY: infra.s3.accessKeyId,
  JOBS_S3_SECRET_KEY: infra.s3.secretAccessKey,
  JOBS_CACHE_KEY_PREFIX: `${infra.redisPrefix}:cache:{account}:`,
});
const adminOf = (account: string) => ({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account });

/** Secrets handed out by registration, looked up by the stand-in to verify signatures. */
const secrets = new Map<string, string>();

function verify(req: Recorded): boolean {
  const secret = secrets.get(req.url);
  const timestamp = req.headers['x-nself-timestamp'];
  const signature = req.headers['x-nself-signature'];
  if (!secret || typeof timestamp !== 'string' || typeof signature !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${req.body}`).digest('hex')}`;
  return expected.length === signature.length && timingSafeEqual(Buffer.from(expected), Buffer.from(signature));
}

beforeAll(async () => {
  notifications = await startStandIn((req, res) => {
    const ok = req.headers['x-admin-secret'] === TEST_ADMIN_SECRET;
    res.writeHead(ok ? 202 : 401, { 'content-type': 'application/json' });
    res.end(JSON.stringify(ok ? { id: 'ntf-123', status: 'queued' } : { code: 'UNAUTHORIZED' }));
  });
  hooks = await startStandIn((req, res) => {
    if (!verify(req)) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: 'bad signature' }));
      return;
    }
    const body = JSON.parse(req.body) as Record<string, unknown>;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ handled: true, echo: body.payload ?? body.input }));
  });
  config.notifications = { url: notifications.url, adminSecret: TEST_ADMIN_SECRET };
  s3 = new S3Client({
    endpoint: infra.s3.endpoint,
    region: infra.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: infra.s3.accessKeyId, secretAccessKey: infra.s3.secretAccessKey },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  redis = new Redis(infra.redisUrl);
  api = await startApiServer(config, quietLogger());
  worker = await startWorkerProcess(config, quietLogger());
});

afterAll(async () => {
  await worker?.stop();
  await api?.stop();
  await notifications?.close();
  await hooks?.close();
  redis?.disconnect();
  s3?.destroy();
});

async function runJob(account: string, body: Record<string, unknown>, timeoutMs = 30_000) {
  const res = await request(api.app).post('/v1/jobs').set(adminOf(account)).send(body);
  expect(res.status).toBe(201);
  return waitFor(
    async () => {
      const job = await db().job.findUnique({ where: { id: res.body.id }, include: { result: true, failures: true } });
      return job && ['completed', 'failed'].includes(job.status) ? job : null;
    },
    { timeoutMs, intervalMs: 50, label: `${String(body.type)} job to finish` },
  );
}

describe('custom job types registered over HTTP', () => {
  it('POSTs the job to a webhook with a verifiable HMAC signature and keeps its answer as the result', async () => {
    const account = uniqueName('acc');
    const path = `/hooks/${uniqueName('w')}`;
    const registered = await request(api.app)
      .post('/v1/job-types')
      .set(adminOf(account))
      .send({ name: 'generate-report', url: `${hooks.url}${path}`, timeoutMs: 5000 });
    expect(registered.status).toBe(201);
    expect(registered.body.signingSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    secrets.set(path, registered.body.signingSecret as string);

    const listed = await request(api.app).get('/v1/job-types').set(adminOf(account));
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0].signingSecret).toBeUndefined();
    expect((await request(api.app).get('/v1/job-types').set(adminOf(uniqueName('acc')))).body.items).toEqual([]);

    const job = await runJob(account, { type: 'generate-report', payload: { month: '2026-11' } });
    expect(job.status).toBe('completed');
    expect(job.result?.result).toEqual({ handled: true, echo: { month: '2026-11' } });
    const call = hooks.requests.find((r) => r.url === path)!;
    expect(verify(call)).toBe(true);
    expect(JSON.parse(call.body)).toMatchObject({ id: job.id, type: 'generate-report', attempt: 1, sourceAccountId: account });
    expect(call.headers['x-nself-job-id']).toBe(job.id);

    // A tampered body no longer matches the signature.
    expect(verify({ ...call, body: call.body.replace('2026-11', '2026-12') })).toBe(false);
    // Another app cannot run this app's type.
    const foreign = await request(api.app).post('/v1/jobs').set(adminOf(uniqueName('acc'))).send({ type: 'generate-report' });
    expect(foreign.status).toBe(400);
    expect(foreign.body.code).toBe('UNKNOWN_JOB_TYPE');
  });

  it('calls Hasura Action-style handlers with action, input and session variables', async () => {
    const account = uniqueName('acc');
    const path = `/actions/${uniqueName('a')}`;
    const registered = await request(api.app)
      .post('/v1/job-types')
      .set(adminOf(account))
      .send({ name: 'recalculate', kind: 'hasura-action', url: `${hooks.url}${path}` });
    secrets.set(path, registered.body.signingSecret as string);
    const job = await runJob(account, { type: 'recalculate', payload: { orgId: 7 } });
    expect(job.status).toBe('completed');
    const body = JSON.parse(hooks.requests.find((r) => r.url === path)!.body) as Record<string, unknown>;
    expect(body).toMatchObject({
      action: { name: 'recalculate' },
      input: { orgId: 7 },
      session_variables: { 'x-hasura-role': 'admin', 'x-hasura-source-account-id': account },
    });
    expect(job.result?.result).toEqual({ handled: true, echo: { orgId: 7 } });
  });

  it('fails permanently when the handler rejects the signature (4xx), and refuses blocked URLs at registration', async () => {
    const account = uniqueName('acc');
    const path = `/hooks/${uniqueName('x')}`;
    await request(api.app).post('/v1/job-types').set(adminOf(account)).send({ name: 'unsigned', url: `${hooks.url}${path}` });
    secrets.set(path, 'a-different-secret-than-the-one-registered-00');
    const job = await runJob(account, { type: 'unsigned', attempts: 3 });
    expect(job.status).toBe('failed');
    expect(job.failures).toHaveLength(1);
    expect(job.failures[0]).toMatchObject({ errorName: 'HANDLER_REJECTED', isFinal: true });

    const blocked = await request(api.app)
      .post('/v1/job-types')
      .set(adminOf(account))
      .send({ name: 'metadata', url: 'http://169.254.169.254/latest/meta-data/' });
    expect(blocked.status).toBe(400);
    expect(blocked.body.code).toBe('URL_NOT_ALLOWED');
    const reserved = await request(api.app).post('/v1/job-types').set(adminOf(account)).send({ name: 'noop', url: `${hooks.url}/x` });
    expect(reserved.status).toBe(409);
    const user = await request(api.app)
      .post('/v1/job-types')
      .set({ authorization: `Bearer ${(await import('@nself/test-support')).signTestToken({ sourceAccountId: account })}` })
      .send({ name: 'mine', url: `${hooks.url}/x` });
    expect(user.status).toBe(403);
  });
});

describe('pre-built job types', () => {
  it('send-email goes through the notifications API with the admin secret, for the job’s app, idempotently', async () => {
    const account = uniqueName('acc');
    const job = await runJob(account, { type: 'send-email', payload: { userId: 'u-9', template: 'welcome', data: { name: 'Ada' } } });
    expect(job.status).toBe('completed');
    expect(job.result?.result).toEqual({ notificationId: 'ntf-123', status: 'queued' });
    const call = notifications.requests.find((r) => r.headers['x-source-account-id'] === account)!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe('/v1/notifications');
    expect(JSON.parse(call.body)).toEqual({
      userId: 'u-9',
      template: 'welcome',
      data: { name: 'Ada' },
      channel: 'email',
      idempotencyKey: `jobs-${job.id}`,
    });
  });

  it('cache-clear deletes keys of the job’s app only', async () => {
    const a = uniqueName('acc');
    const b = uniqueName('acc');
    const ns = (account: string) => `${infra.redisPrefix}:cache:${account}:`;
    await redis.mset(`${ns(a)}user:1`, '1', `${ns(a)}user:2`, '2', `${ns(a)}feed:1`, '3', `${ns(b)}user:1`, '4');
    const job = await runJob(a, { type: 'cache-clear', payload: { pattern: 'user:*' } });
    expect(job.status).toBe('completed');
    expect(job.result?.result).toMatchObject({ deleted: 2 });
    expect(await redis.exists(`${ns(a)}user:1`, `${ns(a)}user:2`)).toBe(0);
    expect(await redis.exists(`${ns(a)}feed:1`, `${ns(b)}user:1`)).toBe(2);
  });

  it('file-cleanup deletes objects older than the cut-off under the prefix only', async () => {
    const account = 'primary';
    for (const key of ['tmp/old-1.bin', 'tmp/old-2.bin', 'keep/old.bin']) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    }
    await new Promise((r) => setTimeout(r, 2100));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'tmp/new.bin', Body: 'y' }));
    const dry = await runJob(account, { type: 'file-cleanup', payload: { prefix: 'tmp/', olderThanSeconds: 2, dryRun: true } });
    expect(dry.result?.result).toMatchObject({ scanned: 3, matched: 2, deleted: 0, dryRun: true });
    const job = await runJob(account, { type: 'file-cleanup', payload: { prefix: 'tmp/', olderThanSeconds: 2 } });
    expect(job.result?.result).toMatchObject({ scanned: 3, matched: 2, deleted: 2 });
    const left = await s3.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(left.Contents?.map((o) => o.Key).sort()).toEqual(['keep/old.bin', 'tmp/new.bin']);
  });

  it('database-backup streams pg_dump into S3 and keeps only the newest backups', async () => {
    const account = 'primary';
    const prefix = `backups/${uniqueName('db')}`;
    const keys: string[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const job = await runJob(account, { type: 'database-backup', payload: { prefix, retentionCount: 2 } }, 60_000);
      expect(job.status, JSON.stringify(job.failures)).toBe('completed');
      const result = job.result?.result as { key: string; bytes: number; deleted: number };
      expect(result.bytes).toBeGreaterThan(1000);
      keys.push(result.key);
      sizes.push(result.bytes);
      if (i === 2) expect(result.deleted).toBe(1);
      await new Promise((r) => setTimeout(r, 1100)); // keys carry a per-second timestamp
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual(keys.slice(1).sort());
    const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: keys[2] }));
    const bytes = Buffer.from(await object.Body!.transformToByteArray());
    expect(bytes.subarray(0, 5).toString()).toBe('PGDMP'); // pg_dump custom-format magic
    expect(bytes.length).toBe(sizes[2]);
  });
});
