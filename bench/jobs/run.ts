/**
 * jobs benchmark (npm run bench:jobs):
 *  1. no-op jobs/s drained from a backlog by the service's worker process (processor with timeout
 *     and cancellation signals, metrics, and the batched Postgres mirror) vs a bare BullMQ worker
 *     process, on the same Redis in the same run, at the same concurrency;
 *  2. add→start latency (p50/p90/p99) at a steady 1,000 jobs/s for both, at the same concurrency.
 * Jobs are added by the service's own producer path (the API's add-job use case: validation, BullMQ
 * add, group-committed mirror row) and, for the baseline, by a bare Queue.add / addBulk.
 *
 * Env: BENCH_JOBS_N (20000), BENCH_JOBS_THROUGHPUT_CONCURRENCY (50), BENCH_JOBS_LATENCY_CONCURRENCY
 * (10, the service default), BENCH_JOBS_RATE (1000), BENCH_JOBS_SECONDS (10), REDIS_URL,
 * NSELF_DATABASE_ADMIN_URL. A scratch database and Redis prefix are created and removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createLogger } from '@nself/logging';
import { addJob, createApiContext, loadJobsConfig, type ApiContext } from '@nself/jobs';
import { printTable, round, summarize } from '../lib/stats.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const N = Number(process.env.BENCH_JOBS_N ?? 20_000);
const THROUGHPUT_C = Number(process.env.BENCH_JOBS_THROUGHPUT_CONCURRENCY ?? 50);
const LATENCY_C = Number(process.env.BENCH_JOBS_LATENCY_CONCURRENCY ?? 10);
const RATE = Number(process.env.BENCH_JOBS_RATE ?? 1000);
const SECONDS = Number(process.env.BENCH_JOBS_SECONDS ?? 10);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_URL = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const PREFIX = `bench:jobs:${id}`;
const BULL_PREFIX = `${PREFIX}:jobs`;
const DATABASE = `nself_bench_jobs_${id}`;
const ADMIN_SECRET = 'bench-admin-secret-0123456789';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function databaseUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

function serviceEnv(queues: string[], concurrency: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl(),
    REDIS_URL,
    REDIS_KEY_PREFIX: PREFIX,
    JWT_SECRET: 'bench-jwt-secret-that-is-at-least-32-characters',
    ADMIN_SECRET,
    JOBS_QUEUES: queues.join(','),
    JOBS_WORKER_PORT: '0',
    JOBS_DEFAULT_CONCURRENCY: String(concurrency),
    // Keep every completed job so the benchmark can read its timestamps (default count: 10000).
    JOBS_KEEP_COMPLETED_COUNT: '10000000',
    ...(process.env.XX_NOMIRROR ? { XX_NOMIRROR: '1' } : {}),
  };
}

interface Proc {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function spawnProcess(args: string[], env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', ...args], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 90_000;
  while (!/"port":\d+/.test(out)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`process did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** processedOn / finishedOn / timestamp of every job of a queue, read with pipelined HMGETs. */
async function jobTimes(redis: Redis, queue: string, ids: string[]) {
  const out: { timestamp: number; processedOn: number; finishedOn: number }[] = [];
  for (let i = 0; i < ids.length; i += 2000) {
    const pipeline = redis.pipeline();
    for (const jobId of ids.slice(i, i + 2000)) pipeline.hmget(`${BULL_PREFIX}:${queue}:${jobId}`, 'timestamp', 'processedOn', 'finishedOn');
    for (const [, fields] of (await pipeline.exec()) ?? []) {
      const [timestamp, processedOn, finishedOn] = (fields as (string | null)[]).map(Number);
      out.push({ timestamp: timestamp!, processedOn: processedOn!, finishedOn: finishedOn! });
    }
  }
  return out;
}

async function waitCompleted(queue: Queue, n: number, timeoutMs = 600_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { completed = 0, failed = 0 } = await queue.getJobCounts('completed', 'failed');
    if (failed > 0) throw new Error(`${failed} jobs failed in ${queue.name}`);
    if (completed >= n) return;
    if (Date.now() > deadline) throw new Error(`timed out: ${completed}/${n} completed in ${queue.name}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const principal = { userId: 'bench', roles: ['admin'], isAdmin: true, sourceAccountId: 'primary', via: 'admin-secret' as const };

/** Adds n no-op jobs through the service's add-job use case, `parallel` at a time. */
async function serviceAdd(ctx: ApiContext, queue: string, n: number, parallel = 64): Promise<string[]> {
  const ids: string[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < n) {
        const i = next++;
        const { job } = await addJob(ctx.deps, principal, { type: 'noop', queue });
        ids[i] = job.id; // for jobs added by the API the BullMQ id is the job's own id
      }
    }),
  );
  return ids;
}

async function mirrorLag(pool: pg.Pool, queue: string, n: number, since: number): Promise<number> {
  for (;;) {
    const { rows } = await pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs WHERE queue = $1 AND status = 'completed'", [queue]);
    if (Number(rows[0]!.n) >= n) return Date.now() - since;
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function throughput(ctx: ApiContext, redis: Redis, pool: pg.Pool) {
  const bareQueueName = `bare-tp-${id}`;
  const serviceQueueName = `svc-tp-${id}`;
  const bareQueue = new Queue(bareQueueName, { connection: redis, prefix: BULL_PREFIX });
  const serviceQueue = ctx.deps.queues.get(serviceQueueName);

  // Bare: backlog with addBulk, then a bare worker process drains it.
  const bareIds: string[] = [];
  for (let i = 0; i < N; i += 1000) {
    const jobs = await bareQueue.addBulk(Array.from({ length: Math.min(1000, N - i) }, () => ({ name: 'noop', data: {} })));
    bareIds.push(...jobs.map((j) => j.id!));
  }
  const bare = await spawnProcess(['bench/jobs/bare-worker.ts', bareQueueName, BULL_PREFIX, String(THROUGHPUT_C)], {
    PATH: process.env.PATH ?? '',
    REDIS_URL,
  });
  await waitCompleted(bareQueue, N);
  await bare.stop();
  const bareTimes = await jobTimes(redis, bareQueueName, bareIds);

  // Service: backlog through the service's producer path, then the service's worker process drains it.
  const addStarted = Date.now();
  const serviceIds = await serviceAdd(ctx, serviceQueueName, N);
  const addRate = N / ((Date.now() - addStarted) / 1000);
  const worker = await spawnProcess(['services/jobs/src/worker.ts', serviceQueueName], serviceEnv(ctx.deps.config.queues, THROUGHPUT_C));
  await waitCompleted(serviceQueue, N);
  const bullDone = Date.now();
  const lag = await mirrorLag(pool, serviceQueueName, N, bullDone);
  await worker.stop();
  const serviceTimes = await jobTimes(redis, serviceQueueName, serviceIds);
  await bareQueue.obliterate({ force: true });

  const rate = (times: { processedOn: number; finishedOn: number }[]) => {
    const start = Math.min(...times.map((t) => t.processedOn));
    const end = Math.max(...times.map((t) => t.finishedOn));
    return times.length / ((end - start) / 1000);
  };
  const bareRate = rate(bareTimes);
  const serviceRate = rate(serviceTimes);
  printTable(`no-op throughput: ${N} jobs drained from a backlog, concurrency ${THROUGHPUT_C}, one worker process each`, [
    { worker: 'bare BullMQ', 'jobs/s': round(bareRate, 0), 'ratio vs bare': 1 },
    { worker: 'nself jobs worker', 'jobs/s': round(serviceRate, 0), 'ratio vs bare': round(serviceRate / bareRate, 3) },
  ]);
  console.log(`service add path (API use case, 64 in flight): ${round(addRate, 0)} jobs/s; Postgres mirror complete ${lag} ms after BullMQ finished`);
  return { bareRate, serviceRate, ratio: serviceRate / bareRate, mirrorLagMs: lag };
}

/** Adds jobs at a steady rate (ticks of 5 ms), then returns add→start latencies in ms. */
async function steady(add: () => Promise<string>, queue: Queue, redis: Redis) {
  const total = RATE * SECONDS;
  const perTick = Math.max(1, Math.round(RATE / 200));
  const ids: string[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.floor(((performance.now() - started) / 1000) * RATE);
    const batch = Math.min(total - sent, Math.max(0, due - sent), perTick * 4);
    for (let i = 0; i < batch; i += 1) pending.push(add().then((jobId) => void ids.push(jobId)));
    sent += batch;
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  await waitCompleted(queue, total);
  const times = await jobTimes(redis, queue.name, ids);
  const achieved = total / ((performance.now() - started) / 1000);
  return { latencies: times.map((t) => t.processedOn - t.timestamp), achieved };
}

async function latency(ctx: ApiContext, redis: Redis) {
  const bareQueueName = `bare-lat-${id}`;
  const serviceQueueName = `svc-lat-${id}`;
  const bareQueue = new Queue(bareQueueName, { connection: redis, prefix: BULL_PREFIX });
  const bare = await spawnProcess(['bench/jobs/bare-worker.ts', bareQueueName, BULL_PREFIX, String(LATENCY_C)], {
    PATH: process.env.PATH ?? '',
    REDIS_URL,
  });
  await new Promise((r) => setTimeout(r, 500));
  const bareRun = await steady(async () => (await bareQueue.add('noop', {})).id!, bareQueue, redis);
  await bare.stop();

  const worker = await spawnProcess(['services/jobs/src/worker.ts', serviceQueueName], serviceEnv(ctx.deps.config.queues, LATENCY_C));
  await new Promise((r) => setTimeout(r, 500));
  const serviceQueue = ctx.deps.queues.get(serviceQueueName);
  const serviceRun = await steady(async () => (await addJob(ctx.deps, principal, { type: 'noop', queue: serviceQueueName })).job.id, serviceQueue, redis);
  await worker.stop();
  await bareQueue.obliterate({ force: true });

  const b = summarize(bareRun.latencies);
  const s = summarize(serviceRun.latencies);
  printTable(`add→start latency at ${RATE} jobs/s for ${SECONDS} s, concurrency ${LATENCY_C} (ms; BullMQ timestamps have 1 ms resolution)`, [
    { worker: 'bare BullMQ', 'achieved/s': round(bareRun.achieved, 0), p50: b.p50, p90: b.p90, p99: b.p99, max: b.max, 'p99 vs bare': 1 },
    {
      worker: 'nself jobs (API add path + service worker)',
      'achieved/s': round(serviceRun.achieved, 0),
      p50: s.p50,
      p90: s.p90,
      p99: s.p99,
      max: s.max,
      'p99 vs bare': round(s.p99 / Math.max(1, b.p99), 2),
    },
  ]);
  return { bareP99: b.p99, serviceP99: s.p99 };
}

async function main(): Promise<void> {
  console.log(`# jobs benchmark (${new Date().toISOString()}, node ${process.version})`);
  await admin(`CREATE DATABASE "${DATABASE}"`);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
  let ctx: ApiContext | undefined;
  try {
    await run(path.join(root, 'prisma/bin/prisma6'), ['migrate', 'deploy'], { env: { ...process.env, DATABASE_URL: databaseUrl() }, timeout: 300_000 });
    const queues = [`svc-tp-${id}`, `svc-lat-${id}`];
    const config = loadJobsConfig(serviceEnv(queues, LATENCY_C) as NodeJS.ProcessEnv);
    ctx = await createApiContext(config, createLogger({ service: 'bench', level: 'warn' }));
    const only = process.env.BENCH_JOBS_ONLY;
    const tp = only === 'latency' ? { ratio: NaN } : await throughput(ctx, redis, pool);
    const lat = only === 'throughput' ? { serviceP99: NaN, bareP99: NaN } : await latency(ctx, redis);
    console.log('\n## verdict');
    console.log(`throughput ratio ${round(tp.ratio, 3)} (target ≥ 0.8): ${tp.ratio >= 0.8 ? 'met' : 'NOT met'}`);
    const latRatio = lat.serviceP99 / Math.max(1, lat.bareP99);
    console.log(`p99 add→start ${lat.serviceP99} ms vs bare ${lat.bareP99} ms = ${round(latRatio, 2)}× (target ≤ 1.5×): ${latRatio <= 1.5 ? 'met' : 'NOT met'}`);
  } finally {
    await ctx?.close().catch(() => undefined);
    await pool.end().catch(() => undefined);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await redis.unlink(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await admin(`DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`).catch(() => undefined);
  }
}

await main();
