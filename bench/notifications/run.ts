/**
 * notifications benchmark (npm run bench:notifications), all through the real service processes:
 *   API process (src/main.ts) → RabbitMQ → worker process(es) (src/worker.ts) → receiver.
 *
 *  1. email throughput: BENCH_TOTAL notifications submitted through POST /v1/notifications/bulk
 *     (1,000 users per request, 2 requests in flight) delivered to a real SMTP receiver (smtp-server):
 *     accepted/s at the API, delivered/s end to end, enqueue→received latency;
 *  2. email latency at a steady BENCH_RATE notifications/s (a bulk request every 100 ms) for
 *     BENCH_SECONDS: p50/p90/p99 enqueue→received;
 *  3. and 4. the same for SMS to an HTTP stand-in of Twilio's Messages API;
 *  5. single sends/s (POST /v1/notifications, autocannon) direct and through the gateway process
 *     (gateway/src/main.ts with NOTIFICATIONS_URL pointing at the API).
 * "enqueue" is the moment the bench sends the bulk request; "received" the moment the receiver has
 * the whole message (SMTP: end of DATA; HTTP: the request body), on the same clock.
 *
 * Env: BENCH_PHASES (email-max,email-steady,sms-max,sms-steady), BENCH_ONLY (bulk | single), BENCH_TOTAL (20000), BENCH_SENT_EVENTS (true: a notification.sent event per delivery), BENCH_RATE (2000), BENCH_SECONDS (10), BENCH_WORKERS (1),
 * BENCH_CONCURRENCY (worker sends in flight, 64), BENCH_SMTP_POOL (SMTP connections of the worker, 16), BENCH_SINGLE_SECONDS (10), BENCH_SINGLE_CONNECTIONS (20),
 * NSELF_DATABASE_ADMIN_URL, NSELF_AMQP_URL, REDIS_URL. A scratch database, queues and Redis prefix are
 * created and removed.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import autocannon from 'autocannon';
import pg from 'pg';
import { SMTPServer } from 'smtp-server';
import { printTable, round, summarize } from '../lib/stats.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOTAL = Number(process.env.BENCH_TOTAL ?? 20_000);
const RATE = Number(process.env.BENCH_RATE ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const SMTP_POOL = Number(process.env.BENCH_SMTP_POOL ?? 16);
const SINGLE_SECONDS = Number(process.env.BENCH_SINGLE_SECONDS ?? 10);
const SINGLE_CONNECTIONS = Number(process.env.BENCH_SINGLE_CONNECTIONS ?? 20);
const ADMIN_URL = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const AMQP_URL = process.env.NSELF_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.REDIS_URL ?? process.env.NSELF_REDIS_URL ?? 'redis://127.0.0.1:6379';
const id = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const DATABASE = `nself_bench_notifications_${id}`;
const QUEUE_PREFIX = `nself.bench.notifications.${id}`;
const EVENTS_EXCHANGE = `nself.bench.events.${id}`;
const ADMIN_SECRET = 'bench-admin-secret-0123456789';
const TWILIO_SID = 'ACbenchbenchbenchbenchbenchbench00';
const BULK = 1000;

const cleanups: (() => Promise<unknown>)[] = [];

function databaseUrl(): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

async function sql(url: string, text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

interface Proc {
  child: ChildProcess;
  port: number;
  stop(): Promise<void>;
}

/** Write-type system calls (write, writev, …) a process has made so far, from /proc (Linux). */
function writeCalls(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    return Number(/syscw: (\d+)/.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1]);
  } catch {
    return NaN;
  }
}

/** CPU time (user + system, ms) a process has used so far, from /proc (Linux). */
function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in 1/100 s ticks
  } catch {
    return NaN;
  }
}

/** Starts a service entry point as its own process and waits until its /health answers. */
async function spawnService(entry: string, env: Record<string, string>, portVar: string, probe = '/ready'): Promise<Proc> {
  const port = await freePort();
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, '--conditions=source', '--import', 'tsx', entry], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env, [portVar]: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err = (err + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited: ${err}`);
    const ok = await fetch(`http://127.0.0.1:${port}${probe}`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${entry} did not become ready: ${err}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const proc = {
    child,
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  cleanups.push(() => proc.stop());
  return proc;
}

/** Receipt times per recipient key (email address or phone number), on this process's clock. */
class Receipts {
  readonly at = new Map<string, number>();
  count = 0;
  record(key: string): void {
    if (!this.at.has(key)) this.at.set(key, performance.now());
    this.count += 1;
  }
}

async function startSmtpReceiver(receipts: Receipts): Promise<number> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    size: 1024 * 1024,
    onData(stream, session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        for (const r of session.envelope.rcptTo) receipts.record(r.address);
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.server.address() as AddressInfo).port;
}

/** Twilio's Messages.json answered like Twilio does (201 + the message resource). */
async function startTwilioStandIn(receipts: Receipts): Promise<number> {
  let sid = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      receipts.record(form.get('To') ?? '');
      sid += 1;
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ sid: `SM${String(sid).padStart(32, '0')}`, status: 'queued' }));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return (server.address() as AddressInfo).port;
}

const email = (user: number) => `user-${user}@bench.example`;
const phone = (user: number) => `+1555${String(user).padStart(7, '0')}`;

async function bulk(api: string, channel: 'email' | 'sms', users: number[]): Promise<void> {
  const res = await fetch(`${api}/v1/notifications/bulk`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-secret': ADMIN_SECRET },
    body: JSON.stringify({ template: 'bench', channel, data: { n: 1 }, userIds: users.map((u) => `u${u}`) }),
  });
  if (res.status !== 202) throw new Error(`bulk answered ${res.status}: ${await res.text()}`);
  const body = (await res.json()) as { queued: number };
  if (body.queued !== users.length) throw new Error(`bulk queued ${body.queued} of ${users.length}`);
}

async function waitReceived(receipts: Receipts, keys: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (keys.some((k) => !receipts.at.has(k))) {
    if (Date.now() > deadline) {
      const missing = keys.filter((k) => !receipts.at.has(k)).length;
      throw new Error(`${missing} of ${keys.length} notifications not received within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Everything as fast as it goes: bulk requests of 1,000, two in flight. */
async function throughput(api: string, channel: 'email' | 'sms', receipts: Receipts, users: number[]) {
  const key = channel === 'email' ? email : phone;
  const sentAt = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    [0, 1].map(async () => {
      while (next < users.length) {
        const slice = users.slice(next, next + BULK);
        next += BULK;
        const t = performance.now();
        for (const u of slice) sentAt.set(key(u), t);
        await bulk(api, channel, slice);
      }
    }),
  );
  const accepted = performance.now();
  const keys = users.map(key);
  await waitReceived(receipts, keys, 300_000);
  const last = Math.max(...keys.map((k) => receipts.at.get(k)!));
  const latency = summarize(keys.map((k) => receipts.at.get(k)! - sentAt.get(k)!));
  return {
    n: users.length,
    acceptedPerSecond: users.length / ((accepted - started) / 1000),
    deliveredPerSecond: users.length / ((last - started) / 1000),
    latency,
  };
}

/** A steady rate: a bulk request every 100 ms carrying rate/10 users. */
async function steady(api: string, channel: 'email' | 'sms', receipts: Receipts, users: number[], rate: number) {
  const key = channel === 'email' ? email : phone;
  const perTick = Math.max(1, Math.round(rate / 10));
  const sentAt = new Map<string, number>();
  const started = performance.now();
  const requests: Promise<void>[] = [];
  for (let i = 0, tick = 0; i < users.length; i += perTick, tick += 1) {
    const due = started + tick * 100;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const slice = users.slice(i, i + perTick);
    const t = performance.now();
    for (const u of slice) sentAt.set(key(u), t);
    const request = bulk(api, channel, slice);
    // Handled now, reported by Promise.all below: a failure while later ticks are still being sent
    // would otherwise be an unhandled rejection that kills the benchmark before its cleanups run
    // (leaving the API and worker processes and the scratch database behind).
    request.catch(() => undefined);
    requests.push(request);
  }
  await Promise.all(requests);
  const keys = users.map(key);
  await waitReceived(receipts, keys, 300_000);
  const last = Math.max(...keys.map((k) => receipts.at.get(k)!));
  return {
    n: users.length,
    offeredPerSecond: rate,
    deliveredPerSecond: users.length / ((last - started) / 1000),
    latency: summarize(keys.map((k) => receipts.at.get(k)! - sentAt.get(k)!)),
  };
}

async function singleSends(url: string, cpuOf: () => number) {
  const body = JSON.stringify({ userId: 'u0', template: 'bench', channel: 'email', data: { n: 2 } });
  const options = {
    url,
    method: 'POST' as const,
    connections: SINGLE_CONNECTIONS,
    headers: { 'content-type': 'application/json', 'x-admin-secret': ADMIN_SECRET },
    body,
  };
  await autocannon({ ...options, duration: 2 });
  const before = cpuOf();
  const result = await autocannon({ ...options, duration: SINGLE_SECONDS });
  const apiCpuUs = ((cpuOf() - before) * 1000) / Math.max(1, result.requests.total);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, errors: result.errors + result.non2xx, apiCpuUs };
}

async function main(): Promise<void> {
  console.log(`notifications benchmark ${id}: ${TOTAL} per throughput phase, ${RATE}/s for ${SECONDS} s, ${WORKERS} worker process(es)`);
  await sql(ADMIN_URL, `CREATE DATABASE "${DATABASE}"`);
  cleanups.push(() => sql(ADMIN_URL, `DROP DATABASE IF EXISTS "${DATABASE}" WITH (FORCE)`));
  await run(path.join(root, 'prisma/bin/prisma6'), ['migrate', 'deploy'], {
    env: { ...process.env, DATABASE_URL: databaseUrl() },
    timeout: 300_000,
  });

  const emails = new Receipts();
  const sms = new Receipts();
  const smtpPort = await startSmtpReceiver(emails);
  const twilioPort = await startTwilioStandIn(sms);
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl(),
    DATABASE_POOL_SIZE: '10',
    AMQP_URL,
    EVENTS_EXCHANGE,
    NOTIFICATIONS_QUEUE_PREFIX: QUEUE_PREFIX,
    JWT_SECRET: 'bench-jwt-secret-that-is-at-least-32-characters',
    ADMIN_SECRET,
    NOTIFICATIONS_SMTP_URL: `smtp://127.0.0.1:${smtpPort}?ignoreTLS=true`,
    NOTIFICATIONS_SMTP_POOL_SIZE: String(SMTP_POOL),
    NOTIFICATIONS_SMS_PROVIDER: 'twilio',
    NOTIFICATIONS_SMS_ACCOUNT_SID: TWILIO_SID,
    NOTIFICATIONS_SMS_AUTH_TOKEN: 'bench-token',
    NOTIFICATIONS_SMS_FROM: '+15005550006',
    NOTIFICATIONS_TWILIO_BASE_URL: `http://127.0.0.1:${twilioPort}`,
    NOTIFICATIONS_CONCURRENCY: String(CONCURRENCY),
    NOTIFICATIONS_PREFETCH: '20',
    NOTIFICATIONS_BULK_CHUNK: '100',
    NOTIFICATIONS_BULK_MAX: String(Math.max(10_000, BULK)),
    NOTIFICATIONS_EMIT_SENT_EVENTS: process.env.BENCH_SENT_EVENTS ?? 'true',
  };

  // Users and their addresses (preferences), as an app would have them.
  const phases = { emailThroughput: TOTAL, emailSteady: RATE * SECONDS, smsThroughput: TOTAL, smsSteady: RATE * SECONDS };
  const ranges: Record<string, number[]> = {};
  let offset = 1;
  for (const [name, n] of Object.entries(phases)) {
    ranges[name] = Array.from({ length: n }, (_, i) => offset + i);
    offset += n;
  }
  await sql(
    databaseUrl(),
    `INSERT INTO notification_preferences (id, source_account_id, user_id, channel, category, enabled, address, timezone, digest_frequency, updated_at)
     SELECT gen_random_uuid(), 'primary', 'u' || i, c.channel, '*', true,
            CASE WHEN c.channel = 'email' THEN 'user-' || i || '@bench.example' ELSE '+1555' || lpad(i::text, 7, '0') END,
            'UTC', 'none', now()
       FROM generate_series(0, $1::int) AS i CROSS JOIN (VALUES ('email'), ('sms')) AS c(channel)`,
    [offset],
  );
  // Loaded in bulk behind autovacuum's back (it is off on this machine's CI PostgreSQL; a deployment's
  // autovacuum analyzes a table loaded like this within a minute). Without statistics the planner
  // read every preference of the app for each bulk request instead of looking its users up.
  await sql(databaseUrl(), 'ANALYZE notification_preferences');

  const api = await spawnService('services/notifications/src/main.ts', env, 'NOTIFICATIONS_PORT');
  const apiUrl = `http://127.0.0.1:${api.port}`;
  const workers: Proc[] = [];
  for (let w = 0; w < WORKERS; w += 1) workers.push(await spawnService('services/notifications/src/worker.ts', env, 'NOTIFICATIONS_WORKER_PORT'));
  cleanups.push(async () => {
    const connection = await amqp.connect(AMQP_URL);
    const channel = await connection.createChannel();
    for (const suffix of ['deliver', 'dead', 'wait', 'retry.1', 'retry.2', 'retry.3', 'retry.4']) {
      await channel.deleteQueue(`${QUEUE_PREFIX}.${suffix}`).catch(() => undefined);
    }
    await channel.deleteExchange(EVENTS_EXCHANGE).catch(() => undefined);
    await connection.close();
  });
  const created = await fetch(`${apiUrl}/v1/templates`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-admin-secret': ADMIN_SECRET },
    body: JSON.stringify({
      name: 'bench',
      subject: 'Your order #{{n}} has shipped',
      bodyText: 'Hello, your order #{{n}} is on its way.',
      bodyHtml: '<p>Hello, your order <b>#{{n}}</b> is on its way.</p>',
      smsBody: 'Order #{{n}} shipped',
      variables: [{ name: 'n', required: true }],
    }),
  });
  if (created.status !== 201) throw new Error(`template: ${created.status} ${await created.text()}`);

  // Warm-up (JIT, connection pools) with a small batch of each channel.
  const warm = Array.from({ length: 500 }, (_, i) => offset + 1 + i);
  await sql(
    databaseUrl(),
    `INSERT INTO notification_preferences (id, source_account_id, user_id, channel, category, enabled, address, timezone, digest_frequency, updated_at)
     SELECT gen_random_uuid(), 'primary', 'u' || i, c.channel, '*', true,
            CASE WHEN c.channel = 'email' THEN 'user-' || i || '@bench.example' ELSE '+1555' || lpad(i::text, 7, '0') END,
            'UTC', 'none', now()
       FROM generate_series($1::int, $2::int) AS i CROSS JOIN (VALUES ('email'), ('sms')) AS c(channel)`,
    [warm[0], warm.at(-1)],
  );
  await throughput(apiUrl, 'email', emails, warm);
  await throughput(apiUrl, 'sms', sms, warm);

  const results: Record<string, string | number>[] = [];
  const cpu: Record<string, string | number>[] = [];
  const processes = () => ({ api: api.child.pid, workers: workers.map((w) => w.child.pid) });
  let mark = { api: 0, worker: 0, bench: 0, workerWrites: 0 };
  const snapshot = () => {
    const p = processes();
    const usage = process.cpuUsage();
    return {
      api: cpuMs(p.api),
      worker: p.workers.reduce((sum: number, pid) => sum + cpuMs(pid), 0),
      bench: (usage.user + usage.system) / 1000,
      workerWrites: p.workers.reduce((sum: number, pid) => sum + writeCalls(pid), 0),
    };
  };
  const startPhase = () => {
    mark = snapshot();
  };
  const row = (phase: string, r: { n: number; latency: ReturnType<typeof summarize> }, extra: Record<string, number>) => {
    const now = snapshot();
    cpu.push({
      phase,
      'API µs/notification': round(((now.api - mark.api) * 1000) / r.n, 0),
      'worker µs/notification': round(((now.worker - mark.worker) * 1000) / r.n, 0),
      'bench+receivers µs/notification': round(((now.bench - mark.bench) * 1000) / r.n, 0),
      'worker write syscalls/notification': round((now.workerWrites - mark.workerWrites) / r.n, 2),
    });
    results.push({
      phase,
      n: r.n,
      ...Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, round(v, 0)])),
      'p50 ms': round(r.latency.p50, 1),
      'p90 ms': round(r.latency.p90, 1),
      'p99 ms': round(r.latency.p99, 1),
      'max ms': round(r.latency.max, 1),
    });
  };
  const only = process.env.BENCH_ONLY; // "bulk" or "single" runs one part
  // BENCH_PHASES: a subset of email-max,email-steady,sms-max,sms-steady (default: all four)
  const phasesWanted = new Set((process.env.BENCH_PHASES ?? 'email-max,email-steady,sms-max,sms-steady').split(','));
  if (only !== 'single') {
    if (phasesWanted.has('email-max')) {
      startPhase();
      const a = await throughput(apiUrl, 'email', emails, ranges.emailThroughput!);
      row('email, max throughput (bulk API → RabbitMQ → SMTP)', a, { 'accepted/s': a.acceptedPerSecond, 'delivered/s': a.deliveredPerSecond });
    }
    if (phasesWanted.has('email-steady')) {
      startPhase();
      const b = await steady(apiUrl, 'email', emails, ranges.emailSteady!, RATE);
      row(`email, steady ${RATE}/s`, b, { 'accepted/s': b.offeredPerSecond, 'delivered/s': b.deliveredPerSecond });
    }
    if (phasesWanted.has('sms-max')) {
      startPhase();
      const c = await throughput(apiUrl, 'sms', sms, ranges.smsThroughput!);
      row('SMS, max throughput (bulk API → RabbitMQ → Twilio stand-in)', c, { 'accepted/s': c.acceptedPerSecond, 'delivered/s': c.deliveredPerSecond });
    }
    if (phasesWanted.has('sms-steady')) {
      startPhase();
      const d = await steady(apiUrl, 'sms', sms, ranges.smsSteady!, RATE);
      row(`SMS, steady ${RATE}/s`, d, { 'accepted/s': d.offeredPerSecond, 'delivered/s': d.deliveredPerSecond });
    }
    printTable('Bulk sends: enqueue (bulk request sent) → received by the SMTP receiver / HTTP stand-in', results);
    printTable('CPU time per notification (user + system, from /proc: what each process spent, less sensitive to a busy machine than rates)', cpu);
  }
  if (only === 'bulk') return;

  const singles: Record<string, string | number>[] = [];
  const direct = await singleSends(`${apiUrl}/v1/notifications`, () => cpuMs(api.child.pid));
  singles.push({ path: 'direct to the API', 'req/s': round(direct.rps, 0), 'p50 ms': direct.p50, 'p99 ms': direct.p99, errors: direct.errors, 'API µs/request': round(direct.apiCpuUs, 0), 'gateway µs/request': '' });
  const gateway = await spawnService(
    'gateway/src/main.ts',
    {
      LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      GATEWAY_HOST: '127.0.0.1',
      NOTIFICATIONS_URL: apiUrl,
      REDIS_URL,
      REDIS_KEY_PREFIX: `bench:notifications:${id}`,
      GATEWAY_RATE_LIMIT: '1000000000',
    },
    'GATEWAY_PORT',
    // The gateway's /ready checks every service and all infrastructure; only notifications runs here.
    '/health',
  ).catch((error: Error) => {
    console.log(`(gateway not started: ${error.message.slice(0, 300)})`);
    return null;
  });
  if (gateway) {
    const via = await singleSends(`http://127.0.0.1:${gateway.port}/notify/v1/notifications`, () => cpuMs(gateway.child.pid));
    singles.push({ path: 'through the gateway (/notify)', 'req/s': round(via.rps, 0), 'p50 ms': via.p50, 'p99 ms': via.p99, errors: via.errors, 'API µs/request': '', 'gateway µs/request': round(via.apiCpuUs, 0) });
  }
  printTable(`Single sends (POST /v1/notifications, ${SINGLE_CONNECTIONS} connections, ${SINGLE_SECONDS} s; each is also delivered)`, singles);
  type Stats = { total: number; byStatus: Record<string, number>; sendLatencyMs: { p50: number; p99: number } };
  const readStats = async () => (await (await fetch(`${apiUrl}/v1/stats`, { headers: { 'x-admin-secret': ADMIN_SECRET } })).json()) as Stats;
  // The last single sends are still being delivered when that phase ends: read the totals once they settled.
  let stats = await readStats();
  for (const deadline = Date.now() + 30_000; (stats.byStatus.queued || stats.byStatus.sending) && Date.now() < deadline; ) {
    await new Promise((r) => setTimeout(r, 200));
    stats = await readStats();
  }
  console.log(`\nservice stats: ${stats.total} notifications, by status ${JSON.stringify(stats.byStatus)}; ` +
    `created→sent per the database p50 ${round(stats.sendLatencyMs.p50, 1)} ms, p99 ${round(stats.sendLatencyMs.p99, 1)} ms`);
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => console.error('cleanup:', e));
  });
