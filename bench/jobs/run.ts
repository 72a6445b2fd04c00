/**
 * jobs benchmark (npm run bench:jobs):
 *  1. no-op jobs/s drained from a backlog by the service's worker process (processor with timeout
 *     and cancellation signals, metrics, and the batched Postgres mirror) vs a bare BullMQ worker
 *     process, on the same Redis in the same run, at the same concurrency;
 *  2. add→start latency (p50/p90/p99) at a steady 1,000 jobs/s for both, at the same concurrency.
 * Jobs are added by the service's own producer path (the API's add-job use case: validation, BullMQ
 * add, group-committed mirror row) and, for the baseline, by a bare Queue.add / addBulk.
 *
 * The two sides alternate for BENCH_JOBS_ROUNDS rounds and the medians are compared, so a burst of
 * load from elsewhere on a shared machine hits both sides alike.
 *
 * Env: BENCH_JOBS_N (20000 per round), BENCH_JOBS_THROUGHPUT_CONCURRENCY (50),
 * BENCH_JOBS_LATENCY_CONCURRENCY (10, the service default), BENCH_JOBS_RATE (1000), BENCH_JOBS_SECONDS
 * (8 per round), BENCH_JOBS_ROUNDS (3), BENCH_JOBS_ONLY (throughput|latency), BENCH_JOBS_NODE_ARGS (extra node
 * flags for the worker processes, e.g. --cpu-prof), REDIS_URL,
 * NSELF_DATABASE_ADMIN_URL. A scratch database and Redis prefix are created and removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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
const SECONDS = Number(process.env.BENCH_JOBS_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_JOBS_ROUNDS ?? 3);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
// Extra node flags for the worker processes, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
const NODE_ARGS = (process.env.BENCH_JOBS_NODE_ARGS ?? '').split(' ').filter(Boolean);
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
  };
}

interface Proc {
  child: ChildProcess;
  /** CPU time (user + system) the process has used so far, in ms (Linux /proc; NaN elsewhere). */
  cpuMs(): number;
  stop(): Promise<void>;
}

function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return NaN;
  }
}

/** CPU ms used so far by the Redis server and by each Postgres process (both on this machine). */
async function serverCpuMs(redis: Redis): Promise<{ redis: number; postgres: Map<string, number> }> {
  const redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
  const postgres = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') postgres.set(entry, processCpuMs(Number(entry)));
    } catch {
      // the process ended meanwhile
    }
  }
  return { redis: processCpuMs(redisPid), postgres };
}

type ServerCpu = Awaited<ReturnType<typeof serverCpuMs>>;

/** CPU µs per job of the worker, Redis and Postgres between two readings (Postgres: processes alive at both). */
function cpuPerJob(worker: number, before: ServerCpu, after: ServerCpu, n: number) {
  const us = (ms: number) => (ms * 1000) / n;
  let postgres = 0;
  for (const [pid, ms] of after.postgres) if (before.postgres.has(pid)) postgres += ms - before.postgres.get(pid)!;
  return { worker: us(worker), redis: us(after.redis - before.redis), postgres: us(postgres) };
}

async function spawnProcess(args: string[], env: Record<string, string>): Promise<Proc> {
  const child = spawn(process.execPath, [...NODE_ARGS, '--conditions=source', '--import', 'tsx', ...args], {
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
    cpuMs: () => processCpuMs(child.pid),
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

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

const drainRate = (times: { processedOn: number; finishedOn: number }[]) => {
  const start = Math.min(...times.map((t) => t.processedOn));
  const end = Math.max(...times.map((t) => t.finishedOn));
  return times.length / ((end - start) / 1000);
};

/** One round of the bare side: a backlog added with addBulk, drained by a bare worker process. */
async function bareThroughput(redis: Redis, round: number) {
  const name = `bare-tp-${id}-${round}`;
  const queue = new Queue(name, { connection: redis, prefix: BULL_PREFIX });
  const ids: string[] = [];
  for (let i = 0; i < N; i += 1000) {
    const jobs = await queue.addBulk(Array.from({ length: Math.min(1000, N - i) }, () => ({ name: 'noop', data: {} })));
    ids.push(...jobs.map((j) => j.id!));
  }
  const worker = await spawnProcess(['bench/jobs/bare-worker.ts', name, BULL_PREFIX, String(THROUGHPUT_C)], {
    PATH: process.env.PATH ?? '',
    REDIS_URL,
  });
  const cpuBefore = worker.cpuMs();
  const serversBefore = await serverCpuMs(redis);
  await waitCompleted(queue, N);
  const cpu = cpuPerJob(worker.cpuMs() - cpuBefore, serversBefore, await serverCpuMs(redis), N);
  await worker.stop();
  const rate = drainRate(await jobTimes(redis, name, ids));
  await queue.obliterate({ force: true });
  await queue.close();
  return { rate, cpu };
}

/** One round of the service side: a backlog added through the API's use case, drained by the service's worker. */
async function serviceThroughput(ctx: ApiContext, redis: Redis, pool: pg.Pool, round: number) {
  const name = `svc-tp-${id}-${round}`;
  const queue = ctx.deps.queues.get(name);
  const addStarted = Date.now();
  const ids = await serviceAdd(ctx, name, N);
  const addRate = N / ((Date.now() - addStarted) / 1000);
  const worker = await spawnProcess(['services/jobs/src/worker.ts', name], serviceEnv(ctx.deps.config.queues, THROUGHPUT_C));
  const cpuBefore = worker.cpuMs();
  const serversBefore = await serverCpuMs(redis);
  await waitCompleted(queue, N);
  const lag = await mirrorLag(pool, name, N, Date.now());
  const cpu = cpuPerJob(worker.cpuMs() - cpuBefore, serversBefore, await serverCpuMs(redis), N);
  await worker.stop();
  const rate = drainRate(await jobTimes(redis, name, ids));
  await queue.obliterate({ force: true });
  return { rate, addRate, lag, cpu };
}

async function throughput(ctx: ApiContext, redis: Redis, pool: pg.Pool) {
  const rows: Record<string, string | number>[] = [];
  const bare: number[] = [];
  const service: number[] = [];
  const bareCpu: ReturnType<typeof cpuPerJob>[] = [];
  const serviceCpu: ReturnType<typeof cpuPerJob>[] = [];
  const adds: number[] = [];
  const lags: number[] = [];
  // Worker | Redis | Postgres CPU per job: where the machine's two cores go during a drain.
  const cpuCells = (cpu: ReturnType<typeof cpuPerJob>[]) =>
    [median(cpu.map((c) => c.worker)), median(cpu.map((c) => c.redis)), median(cpu.map((c) => c.postgres))].map(round0).join('|');
  for (let r = 0; r < ROUNDS; r += 1) {
    const b = await bareThroughput(redis, r);
    bare.push(b.rate);
    bareCpu.push(b.cpu);
    const s = await serviceThroughput(ctx, redis, pool, r);
    service.push(s.rate);
    serviceCpu.push(s.cpu);
    adds.push(s.addRate);
    lags.push(s.lag);
    rows.push({
      round: r + 1,
      'bare jobs/s': round0(bare[r]!),
      'service jobs/s': round0(s.rate),
      ratio: round(s.rate / bare[r]!, 3),
      'CPU µs/job bare worker|redis|pg': cpuCells([b.cpu]),
      'CPU µs/job service worker|redis|pg': cpuCells([s.cpu]),
    });
  }
  const ratio = median(service) / median(bare);
  rows.push({
    round: 'median',
    'bare jobs/s': round0(median(bare)),
    'service jobs/s': round0(median(service)),
    ratio: round(ratio, 3),
    'CPU µs/job bare worker|redis|pg': cpuCells(bareCpu),
    'CPU µs/job service worker|redis|pg': cpuCells(serviceCpu),
  });
  printTable(`no-op throughput: ${N} jobs drained from a backlog per round, concurrency ${THROUGHPUT_C}, one worker process each`, rows);
  console.log(
    `service add path (API use case, 64 in flight): median ${round0(median(adds))} jobs/s; ` +
      `Postgres mirror complete a median ${median(lags)} ms after BullMQ finished`,
  );
  return { ratio };
}

const round0 = (n: number) => round(n, 0);

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
  const rows: Record<string, string | number>[] = [];
  const bareP99: number[] = [];
  const serviceP99: number[] = [];
  const all = { bare: [] as number[], service: [] as number[] };
  for (let r = 0; r < ROUNDS; r += 1) {
    const bareName = `bare-lat-${id}-${r}`;
    const bareQueue = new Queue(bareName, { connection: redis, prefix: BULL_PREFIX });
    const bare = await spawnProcess(['bench/jobs/bare-worker.ts', bareName, BULL_PREFIX, String(LATENCY_C)], {
      PATH: process.env.PATH ?? '',
      REDIS_URL,
    });
    await new Promise((r) => setTimeout(r, 500));
    const b = await steady(async () => (await bareQueue.add('noop', {})).id!, bareQueue, redis);
    await bare.stop();
    await bareQueue.obliterate({ force: true });
    await bareQueue.close();

    const serviceName = `svc-lat-${id}-${r}`;
    const worker = await spawnProcess(['services/jobs/src/worker.ts', serviceName], serviceEnv(ctx.deps.config.queues, LATENCY_C));
    await new Promise((r) => setTimeout(r, 500));
    const serviceQueue = ctx.deps.queues.get(serviceName);
    const s = await steady(async () => (await addJob(ctx.deps, principal, { type: 'noop', queue: serviceName })).job.id, serviceQueue, redis);
    await worker.stop();
    await serviceQueue.obliterate({ force: true });

    const bs = summarize(b.latencies);
    const ss = summarize(s.latencies);
    bareP99.push(bs.p99);
    serviceP99.push(ss.p99);
    all.bare.push(...b.latencies);
    all.service.push(...s.latencies);
    rows.push({
      round: r + 1,
      'bare p50/p90/p99': `${bs.p50}/${bs.p90}/${bs.p99}`,
      'service p50/p90/p99': `${ss.p50}/${ss.p90}/${ss.p99}`,
      'achieved/s bare|service': `${round0(b.achieved)}|${round0(s.achieved)}`,
      'p99 ratio': round(ss.p99 / Math.max(1, bs.p99), 2),
    });
  }
  const bm = median(bareP99);
  const sm = median(serviceP99);
  const bAll = summarize(all.bare);
  const sAll = summarize(all.service);
  rows.push({
    round: 'median p99',
    'bare p50/p90/p99': `–/–/${bm}`,
    'service p50/p90/p99': `–/–/${sm}`,
    'achieved/s bare|service': '',
    'p99 ratio': round(sm / Math.max(1, bm), 2),
  });
  rows.push({
    round: 'all rounds',
    'bare p50/p90/p99': `${bAll.p50}/${bAll.p90}/${bAll.p99}`,
    'service p50/p90/p99': `${sAll.p50}/${sAll.p90}/${sAll.p99}`,
    'achieved/s bare|service': '',
    'p99 ratio': round(sAll.p99 / Math.max(1, bAll.p99), 2),
  });
  printTable(
    `add→start latency (ms) at ${RATE} jobs/s for ${SECONDS} s per round, concurrency ${LATENCY_C} (BullMQ timestamps: 1 ms resolution)`,
    rows,
  );
  return { bareP99: bm, serviceP99: sm };
}

async function main(): Promise<void> {
  const { loadavg } = await import('node:os');
  console.log(`# jobs benchmark (${new Date().toISOString()}, node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  await admin(`CREATE DATABASE "${DATABASE}"`);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const pool = new pg.Pool({ connectionString: databaseUrl(), max: 2 });
  let ctx: ApiContext | undefined;
  try {
    await run(path.join(root, 'prisma/bin/prisma6'), ['migrate', 'deploy'], { env: { ...process.env, DATABASE_URL: databaseUrl() }, timeout: 300_000 });
    const queues = Array.from({ length: ROUNDS }, (_, r) => [`svc-tp-${id}-${r}`, `svc-lat-${id}-${r}`]).flat();
    const config = loadJobsConfig(serviceEnv(queues, LATENCY_C) as NodeJS.ProcessEnv);
    ctx = await createApiContext(config, createLogger({ service: 'bench', level: 'warn' }));
    const only = process.env.BENCH_JOBS_ONLY;
    const tp = only === 'latency' ? undefined : await throughput(ctx, redis, pool);
    const lat = only === 'throughput' ? undefined : await latency(ctx, redis);
    console.log(`\n## verdict (load average now ${loadavg().map((l) => l.toFixed(1)).join(' ')})`);
    if (tp) console.log(`throughput ratio ${round(tp.ratio, 3)} (target ≥ 0.8): ${tp.ratio >= 0.8 ? 'met' : 'NOT met'}`);
    if (lat) {
      const latRatio = lat.serviceP99 / Math.max(1, lat.bareP99);
      console.log(`p99 add→start ${lat.serviceP99} ms vs bare ${lat.bareP99} ms = ${round(latRatio, 2)}× (target ≤ 1.5×): ${latRatio <= 1.5 ? 'met' : 'NOT met'}`);
    }
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
