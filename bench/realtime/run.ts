/**
 * Realtime benchmark, in ONE run on this machine:
 *   1. nself realtime, 2 replicas (separate processes) behind the real gateway (separate process),
 *   2. the same replicas direct (no gateway),
 *   3. bare Socket.IO 4 + Redis adapter, 2 processes, behind the same kind of gateway,
 *   4. the bare servers direct,
 *   5. failover: the clients connect through the gateway again (reconnecting as the SDK does), one
 *      replica is killed with SIGKILL, and the time until each of its clients has re-joined its room on
 *      the other replica is measured; then a short load runs on the survivor alone,
 * each printing: concurrent WebSocket clients held, RSS per connection on each replica, room-broadcast
 * deliveries/s (rooms of BENCH_ROOM_SIZE, every message to every other member, members spread over
 * both replicas) and p50/p99 emit→receive latency (all, and only deliveries that crossed replicas),
 * plus the CPU each process used during the load and the machine's load average (a busy machine
 * makes every figure worse; compare scenarios from the same run).
 *
 *   npm run bench:realtime                                   # full size: 9,000 clients, 10k deliveries/s, 20 s
 *   BENCH_CLIENTS=1000 BENCH_SECONDS=5 BENCH_SCENARIOS=nself-gateway npm run bench:realtime  # quick
 *
 * Env: BENCH_CLIENTS (9000), BENCH_ROOM_SIZE (10), BENCH_RATES (deliveries/s, comma list: 10000),
 * BENCH_SECONDS (20), BENCH_WARMUP_SECONDS (3), BENCH_CONNECT_RATE (clients/s, 600),
 * BENCH_CLIENTS_PER_PROCESS (3000), BENCH_SCENARIOS (nself-gateway,nself-direct,nself-failover,bare-gateway,bare-direct),
 * BENCH_REPLICA_NODE_ARGS (extra node flags for the replicas and the bare servers), BENCH_FROM (dist; source: run the
 * services' TypeScript through tsx), REDIS_URL,
 * NSELF_DATABASE_ADMIN_URL (postgresql://postgres@127.0.0.1:5432/postgres).
 *
 * RSS per connection is the slope between two settled points (after half and after all the clients);
 * the table also prints each replica's whole RSS. Both move with V8's heap sizing: garbage promoted
 * during a connect burst grows the old generation and stays in RSS until (and often after) a full
 * collection: in one run a replica's used heap (its /metrics, after a full collection) grew 7.5 KB per
 * connection while its RSS slope was 15–60 KB across runs.
 * Needs PostgreSQL and Redis (`. infra/local/ensure-infra.sh`). The gateway holds two file descriptors
 * per client and a process may hold 20,000 here, so ~9,900 clients is the ceiling through one gateway.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { printTable, round, summarize } from '../lib/stats.js';
import type { ClientSpec, Command, Reply } from './load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const num = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const CLIENTS = num('BENCH_CLIENTS', 9000);
const ROOM_SIZE = num('BENCH_ROOM_SIZE', 10);
const RATES = (process.env.BENCH_RATES ?? '10000').split(',').map(Number);
const SECONDS = num('BENCH_SECONDS', 20);
const WARMUP = num('BENCH_WARMUP_SECONDS', 3);
const CONNECT_RATE = num('BENCH_CONNECT_RATE', 600);
const PER_PROCESS = num('BENCH_CLIENTS_PER_PROCESS', 3000);
/** Extra node flags of every server process under test, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const SERVER_NODE_ARGS = (process.env.BENCH_REPLICA_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SCENARIOS = (process.env.BENCH_SCENARIOS ?? 'nself-gateway,nself-direct,nself-failover,bare-gateway,bare-direct').split(',');
const FAILOVER_LOAD_SECONDS = 5;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const ADMIN_URL = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const JWT_SECRET = 'bench-jwt-secret-that-is-at-least-32-characters';
const ADMIN_SECRET = 'bench-admin-secret-0123456789';
const ACCOUNT = 'bench';
const runId = Date.now().toString(36);
/** The system-wide monotonic clock in ms, as the load generators read it. */
const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const prefix = `bench:${runId}`;
const processes: ChildProcess[] = [];

interface Service {
  child: ChildProcess;
  port: number;
  url: string;
}

/**
 * The services run as their images run them: `node dist/main.js` (the npm script builds them first).
 * BENCH_FROM=source runs their TypeScript through tsx instead (profiles then point at the sources);
 * tsx's keep-names helper and loader make that slower than what is deployed.
 */
const FROM_SOURCE = process.env.BENCH_FROM === 'source';
const serviceEntry = (dir: string) => (FROM_SOURCE ? `${dir}/src/main.ts` : `${dir}/dist/main.js`);

/** Spawns an entry (.js as is, .ts through tsx) and resolves with the port from its JSON "ready" line; keeps draining stdout. */
function startEntry(entry: string, env: Record<string, string>, readyMsg: string, nodeArgs: string[] = []): Promise<Service> {
  return new Promise((resolve, reject) => {
    const loader = entry.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx'] : [];
    const child = spawn(process.execPath, [...nodeArgs, ...loader, path.join(repo, entry)], {
      cwd: repo,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    processes.push(child);
    child.once('exit', (code, signal) => reject(new Error(`${entry} exited (${code ?? signal}) before it was ready`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes(readyMsg)) return;
      try {
        const parsed = JSON.parse(line) as { msg?: string; port?: number };
        if (parsed.msg === readyMsg && parsed.port) resolve({ child, port: parsed.port, url: `http://127.0.0.1:${parsed.port}` });
      } catch {
        // not JSON
      }
    });
  });
}

/** SIGTERM, then waits for the exits (a replica started with --cpu-prof writes its profile on exit). */
async function stopAll(services: Service[]): Promise<void> {
  await Promise.all(
    services.map(({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return undefined;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      return Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
    }),
  );
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

let redisPid: number | undefined;

/**
 * Starts measuring the CPU of the named processes (plus the local redis-server); the returned function
 * gives each one's share of one core since then, in %.
 */
function cpuMeter(processes: [string, number][]): () => [string, number][] {
  const watched: [string, number][] = [...processes, ...(redisPid ? [['redis-server', redisPid] as [string, number]] : [])];
  const before = watched.map(([, pid]) => cpuSeconds(pid));
  const started = Date.now();
  return () => {
    const seconds = (Date.now() - started) / 1000;
    return watched.map(([name, pid], i) => [name, (100 * (cpuSeconds(pid) - before[i]!)) / seconds]);
  };
}

const formatCpu = (shares: [string, number][]) => shares.map(([name, pct]) => `${name} ${Math.round(pct)}%`).join(', ');

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** Lowest RSS of each process over a quiet period (garbage from the connect burst is collected meanwhile). */
async function settledRssKb(pids: number[], ms: number): Promise<number[]> {
  const lowest = pids.map((pid) => rssKb(pid));
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    pids.forEach((pid, i) => {
      lowest[i] = Math.min(lowest[i]!, rssKb(pid));
    });
  }
  return lowest;
}

class LoadProcess {
  readonly child: ChildProcess;
  private waiting = new Map<string, (reply: Reply) => void>();

  constructor() {
    this.child = fork(path.join(here, 'load.ts'), [], {
      cwd: repo,
      execArgv: ['--conditions=source', '--import', 'tsx', '--max-old-space-size=4096'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    processes.push(this.child);
    this.child.on('message', (reply: Reply) => {
      const key = reply.type;
      const resolve = this.waiting.get(key);
      this.waiting.delete(key);
      resolve?.(reply);
    });
  }

  ask<T extends Reply['type']>(command: Command, expect: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve) => {
      this.waiting.set(expect, resolve as (reply: Reply) => void);
      this.child.send(command);
    });
  }
}

async function createDatabase(): Promise<string> {
  const database = `nself_bench_${runId}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${database}"`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${database}`;
  // A throwaway database: the migrations' SQL is applied directly, in order (seconds faster than the
  // migration runner, which also records history this database never needs).
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const dir = path.join(repo, 'prisma/migrations');
    for (const name of readdirSync(dir).filter((n) => /^\d+_/.test(n)).sort()) {
      await client.query(readFileSync(path.join(dir, name, 'migration.sql'), 'utf8'));
    }
  } finally {
    await client.end();
  }
  return url.toString();
}

async function dropDatabase(): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "nself_bench_${runId}" WITH (FORCE)`).catch(() => undefined);
  await admin.end();
}

function roomCount(): number {
  return Math.ceil(CLIENTS / ROOM_SIZE);
}

/** Members of room r are users r*ROOM_SIZE … ; consecutive users alternate replicas, so every room spans both. */
function specs(roomIds: string[], targets: number): ClientSpec[] {
  return Array.from({ length: CLIENTS }, (_, i) => ({
    user: `u${i}`,
    room: roomIds[Math.floor(i / ROOM_SIZE)]!,
    target: i % targets,
  }));
}

async function createRooms(gatewayUrl: string): Promise<string[]> {
  const ids: string[] = new Array<string>(roomCount());
  let next = 0;
  const worker = async () => {
    for (;;) {
      const r = next++;
      if (r >= ids.length) return;
      const members = Array.from({ length: ROOM_SIZE }, (_, k) => `u${r * ROOM_SIZE + k}`).filter((_, k) => r * ROOM_SIZE + k < CLIENTS);
      let res: Response | undefined;
      for (let attempt = 0; attempt < 3; attempt += 1) {
        res = await fetch(`${gatewayUrl}/realtime/v1/rooms`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-admin-secret': ADMIN_SECRET, 'x-source-account-id': ACCOUNT },
          body: JSON.stringify({ name: `room-${r}`, members }),
        });
        if (res.status !== 502) break;
        console.log(`  room create got a 502 (${await res.text()}); retrying`);
      }
      if (res!.status !== 201) throw new Error(`room create failed: ${res!.status} ${await res!.text()}`);
      ids[r] = ((await res!.json()) as { room: { id: string } }).room.id;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return ids;
}

interface ScenarioResult {
  scenario: string;
  held: number;
  failed: number;
  retried: number;
  connectSeconds: number;
  rssPerConnKb: number[];
  rssMb: number[];
  loads: {
    offered: number;
    /** Deliveries the sent messages make (each goes to ROOM_SIZE - 1 members), per second. */
    sentDeliveries: number;
    achieved: number;
    sendErrors: number;
    all: ReturnType<typeof summarize>;
    cross: ReturnType<typeof summarize>;
  }[];
}

function countByInstance(replies: Extract<Reply, { type: 'connected' }>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const reply of replies) for (const [id, n] of Object.entries(reply.instances)) out[id] = (out[id] ?? 0) + n;
  return out;
}

async function runScenario(
  scenario: string,
  mode: 'nself' | 'bare',
  targets: { url: string; path: string }[],
  replicas: Service[],
  instanceIds: string[],
  roomIds: string[],
  gatewayPid?: number,
): Promise<ScenarioResult> {
  console.log(`\n# ${scenario}: connecting ${CLIENTS} clients …`);
  const loaders = Array.from({ length: Math.max(1, Math.ceil(CLIENTS / PER_PROCESS)) }, () => new LoadProcess());
  const all = specs(roomIds, targets.length);
  const perLoader = loaders.map((_, k) => all.filter((_, i) => i % loaders.length === k));
  // Two halves: RSS per connection is the slope over the second half, so one-off costs of a fresh
  // process (JIT, caches, pools) do not count as per-connection memory; each point is the lowest RSS
  // over a quiet period after the connections were made.
  const connectHalf = (half: 0 | 1) =>
    Promise.all(
      loaders.map((loader, k) => {
        const mine = perLoader[k]!;
        const cut = Math.floor(mine.length / 2);
        return loader.ask(
          {
            type: 'connect',
            mode,
            targets,
            clients: half === 0 ? mine.slice(0, cut) : mine.slice(cut),
            connectPerSecond: CONNECT_RATE / loaders.length,
            jwtSecret: JWT_SECRET,
            account: ACCOUNT,
          },
          'connected',
        );
      }),
    );
  const started = Date.now();
  const first = await connectHalf(0);
  const middle = await settledRssKb(replicas.map((r) => r.child.pid!), 5000);
  const firstCounts = countByInstance(first);
  const connected = [...first, ...(await connectHalf(1))];
  const connectSeconds = (Date.now() - started - 5000) / 1000;
  const failed = connected.reduce((n, c) => n + c.failed, 0);
  const retried = connected.reduce((n, c) => n + c.retries, 0);
  if (failed) console.log(`  ${failed} connections failed after retries, e.g. ${connected.flatMap((c) => c.errors).slice(0, 3).join('; ')}`);
  if (retried) console.log(`  ${retried} connection attempts were retried`);
  const perInstance = countByInstance(connected);
  console.log(`  connected in ${round(connectSeconds, 1)} s; per replica: ${JSON.stringify(perInstance)}`);

  // Hold: everyone still connected after a quiet pause is "held".
  const after = await settledRssKb(replicas.map((r) => r.child.pid!), 8000);
  const held = (await Promise.all(loaders.map((l) => l.ask({ type: 'count' }, 'count')))).reduce((n, c) => n + c.connected, 0);
  const rssPerConnKb = replicas.map((_, i) => {
    const added = (perInstance[instanceIds[i]!] ?? 0) - (firstCounts[instanceIds[i]!] ?? 0);
    return (after[i]! - middle[i]!) / Math.max(1, added);
  });

  const loads: ScenarioResult['loads'] = [];
  for (const offered of RATES) {
    const messagesPerSecond = offered / (ROOM_SIZE - 1);
    console.log(`  load: ${offered} deliveries/s offered (${round(messagesPerSecond)} messages/s) for ${SECONDS} s …`);
    const cpuSince = cpuMeter([
      ...replicas.map((r, i): [string, number] => [`replica ${i + 1}`, r.child.pid!]),
      ...(gatewayPid ? [['gateway', gatewayPid] as [string, number]] : []),
      ...loaders.map((l, i): [string, number] => [`load gen ${i + 1}`, l.child.pid!]),
    ]);
    const results = await Promise.all(
      loaders.map((l) => l.ask({ type: 'load', messagesPerSecond: messagesPerSecond / loaders.length, seconds: SECONDS, warmupSeconds: WARMUP }, 'loaded')),
    );
    console.log(
      `  CPU during the load (% of one core): ${formatCpu(cpuSince())}; machine load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`,
    );
    const received = results.reduce((n, r) => n + r.received, 0);
    const cross = results.flatMap((r) => r.crossReplica);
    const latencies = [...cross, ...results.flatMap((r) => r.sameReplica)];
    loads.push({
      offered,
      sentDeliveries: (results.reduce((n, r) => n + r.sent, 0) * (ROOM_SIZE - 1)) / SECONDS,
      achieved: received / SECONDS,
      sendErrors: results.reduce((n, r) => n + r.sendErrors, 0),
      all: summarize(latencies),
      cross: summarize(cross),
    });
  }
  await Promise.all(loaders.map((l) => l.ask({ type: 'close' }, 'closed')));
  for (const l of loaders) l.child.kill();
  // Let the replicas process the disconnects before the next scenario measures its baseline.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return { scenario, held, failed, retried, connectSeconds, rssPerConnKb, rssMb: after.map((kb) => kb / 1024), loads };
}

interface FailoverResult {
  connected: number;
  moved: number;
  stillOut: number;
  reconnectErrors: number;
  /** The survivor's CPU (% of one core) from the kill until the last client re-joined. */
  survivorCpu: number;
  rejoined: ReturnType<typeof summarize>;
  errors: string[];
  instancesAfter: Record<string, number>;
  afterLoad: { offered: number; achieved: number; sendErrors: number; all: ReturnType<typeof summarize> };
}

/**
 * Kills replica 2 under 9,000 connected clients (through the gateway) and measures how long its clients
 * take to reconnect, through the gateway, to the other replica and re-join their rooms; then offers the
 * usual load to the survivor alone for a few seconds to show the rooms work again.
 */
async function runFailover(gateway: Service, replicas: Service[], roomIds: string[]): Promise<FailoverResult> {
  const gatewayUrl = gateway.url;
  console.log(`\n# failover: connecting ${CLIENTS} clients through the gateway (SDK-like reconnection) …`);
  const loaders = Array.from({ length: Math.max(1, Math.ceil(CLIENTS / PER_PROCESS)) }, () => new LoadProcess());
  const all = specs(roomIds, 1);
  const connected = await Promise.all(
    loaders.map((loader, k) =>
      loader.ask(
        {
          type: 'connect',
          mode: 'nself',
          targets: [{ url: gatewayUrl, path: '/realtime/socket.io' }],
          clients: all.filter((_, i) => i % loaders.length === k),
          connectPerSecond: CONNECT_RATE / loaders.length,
          jwtSecret: JWT_SECRET,
          account: ACCOUNT,
          reconnect: true,
        },
        'connected',
      ),
    ),
  );
  const perInstance = countByInstance(connected);
  console.log(`  connected: ${JSON.stringify(perInstance)}; killing realtime-1 (SIGKILL) …`);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const cpuSince = cpuMeter([
    ['survivor', replicas[0]!.child.pid!],
    ['gateway', gateway.child.pid!],
    ...loaders.map((l, i): [string, number] => [`load gen ${i + 1}`, l.child.pid!]),
  ]);
  const killedAt = nowMs();
  replicas[1]!.child.kill('SIGKILL');
  const outcomes = await Promise.all(
    loaders.map((l) => l.ask({ type: 'failover', instance: 'realtime-1', killedAt, timeoutMs: 60_000 }, 'failedOver')),
  );
  const cpu = cpuSince();
  console.log(`  CPU until the last re-join (% of one core): ${formatCpu(cpu)}`);
  const survivorCpu = cpu[0]![1];
  const moved = outcomes.reduce((n, o) => n + o.moved, 0);
  const stillOut = outcomes.reduce((n, o) => n + o.stillOut, 0);
  const instancesAfter: Record<string, number> = {};
  for (const o of outcomes) for (const [id, n] of Object.entries(o.instances)) instancesAfter[id] = (instancesAfter[id] ?? 0) + n;
  const rejoined = summarize(outcomes.flatMap((o) => o.rejoinedMs));
  console.log(`  ${moved - stillOut} of ${moved} re-joined in ${round(rejoined.max / 1000, 1)} s; now ${JSON.stringify(instancesAfter)}`);

  const offered = RATES[0]!;
  console.log(`  load on the survivor: ${offered} deliveries/s offered for ${FAILOVER_LOAD_SECONDS} s …`);
  const results = await Promise.all(
    loaders.map((l) =>
      l.ask({ type: 'load', messagesPerSecond: offered / (ROOM_SIZE - 1) / loaders.length, seconds: FAILOVER_LOAD_SECONDS, warmupSeconds: 1 }, 'loaded'),
    ),
  );
  await Promise.all(loaders.map((l) => l.ask({ type: 'close' }, 'closed')));
  for (const l of loaders) l.child.kill();
  return {
    connected: connected.reduce((n, c) => n + c.ok, 0),
    moved,
    stillOut,
    reconnectErrors: outcomes.reduce((n, o) => n + o.reconnectErrors, 0),
    survivorCpu,
    rejoined,
    errors: outcomes.flatMap((o) => o.errors).slice(0, 3),
    instancesAfter,
    afterLoad: {
      offered,
      achieved: results.reduce((n, r) => n + r.received, 0) / FAILOVER_LOAD_SECONDS,
      sendErrors: results.reduce((n, r) => n + r.sendErrors, 0),
      all: summarize(results.flatMap((r) => [...r.crossReplica, ...r.sameReplica])),
    },
  };
}

/** The local redis-server's pid (for its CPU figure), when Redis runs on this machine. */
async function findRedisPid(): Promise<number | undefined> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info('server');
    const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    return Number.isFinite(pid) && pid > 0 && cpuSeconds(pid) >= 0 ? pid : undefined;
  } catch {
    return undefined;
  } finally {
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench/realtime: ${CLIENTS} clients, rooms of ${ROOM_SIZE}, ${RATES.join('/')} deliveries/s for ${SECONDS} s (+${WARMUP} s warm-up), scenarios ${SCENARIOS.join(', ')}`,
  );
  const results: ScenarioResult[] = [];
  let failover: FailoverResult | undefined;
  redisPid = await findRedisPid();
  const gatewayEnv = (urls: string) => ({
    GATEWAY_PORT: '0',
    GATEWAY_HOST: '127.0.0.1',
    REALTIME_URLS: urls,
    GATEWAY_RATE_LIMIT: '0',
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    LOG_LEVEL: 'info',
  });

  if (SCENARIOS.some((s) => s.startsWith('nself'))) {
    const databaseUrl = await createDatabase();
    try {
      const replicaEnv = {
        DATABASE_URL: databaseUrl,
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix,
        JWT_SECRET,
        ADMIN_SECRET,
        REALTIME_PORT: '0',
        REALTIME_HOST: '127.0.0.1',
        REALTIME_MAX_CONNECTIONS: '20000',
        LOG_LEVEL: 'info',
        NODE_ENV: 'production',
      };
      const replicas = await Promise.all([0, 1].map((i) => startEntry(
          serviceEntry('services/realtime'),
          { ...replicaEnv, REALTIME_INSTANCE_ID: `realtime-${i}` },
          'realtime listening',
          SERVER_NODE_ARGS,
        )));
      const gateway = await startEntry(serviceEntry('gateway'), gatewayEnv(replicas.map((r) => r.url).join(',')), 'gateway listening');
      console.log(`creating ${roomCount()} rooms with their members …`);
      const roomIds = await createRooms(gateway.url);
      const ids = ['realtime-0', 'realtime-1'];
      if (SCENARIOS.includes('nself-gateway')) {
        results.push(await runScenario('nself realtime via gateway', 'nself', [{ url: gateway.url, path: '/realtime/socket.io' }], replicas, ids, roomIds, gateway.child.pid));
      }
      if (SCENARIOS.includes('nself-direct')) {
        results.push(await runScenario('nself realtime direct', 'nself', replicas.map((r) => ({ url: r.url, path: '/socket.io' })), replicas, ids, roomIds));
      }
      if (SCENARIOS.includes('nself-failover')) failover = await runFailover(gateway, replicas, roomIds);
      await stopAll([gateway, ...replicas]);
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      await dropDatabase();
    }
  }

  if (SCENARIOS.some((s) => s.startsWith('bare'))) {
    const servers = await Promise.all([0, 1].map(() => startEntry(
      'bench/realtime/bare-server.ts',
      { REDIS_URL, REDIS_KEY_PREFIX: prefix },
      'bare listening',
      SERVER_NODE_ARGS,
    )));
    const gateway = await startEntry(serviceEntry('gateway'), gatewayEnv(servers.map((s) => s.url).join(',')), 'gateway listening');
    const roomIds = Array.from({ length: roomCount() }, (_, r) => `room-${r}`);
    const ids = servers.map((s) => `bare-${s.child.pid}`);
    if (SCENARIOS.includes('bare-gateway')) {
      results.push(await runScenario('bare Socket.IO + Redis adapter via gateway', 'bare', [{ url: gateway.url, path: '/realtime/socket.io' }], servers, ids, roomIds, gateway.child.pid));
    }
    if (SCENARIOS.includes('bare-direct')) {
      results.push(await runScenario('bare Socket.IO + Redis adapter direct', 'bare', servers.map((s) => ({ url: s.url, path: '/socket.io' })), servers, ids, roomIds));
    }
    await stopAll([gateway, ...servers]);
  }

  printTable(
    `Connections (${CLIENTS} WebSocket clients, 2 replicas)`,
    results.map((r) => ({
      scenario: r.scenario,
      'clients held': r.held,
      failed: r.failed,
      'retried attempts': r.retried,
      'connect s': round(r.connectSeconds, 1),
      'RSS/conn KB (replica 1)': round(r.rssPerConnKb[0] ?? NaN, 1),
      'RSS/conn KB (replica 2)': round(r.rssPerConnKb[1] ?? NaN, 1),
      'RSS MB replica 1|2': r.rssMb.map((mb) => round(mb, 0)).join('|'),
    })),
  );
  printTable(
    `Room broadcast (rooms of ${ROOM_SIZE}, members on both replicas; latency emit→receive in ms)`,
    results.flatMap((r) =>
      r.loads.map((l) => ({
        scenario: r.scenario,
        'offered/s': l.offered,
        'sent/s': Math.round(l.sentDeliveries),
        'deliveries/s': Math.round(l.achieved),
        p50: round(l.all.p50),
        p90: round(l.all.p90),
        p99: round(l.all.p99),
        max: round(l.all.max),
        'cross-replica p50': round(l.cross.p50),
        'cross-replica p99': round(l.cross.p99),
        'send errors': l.sendErrors,
      })),
    ),
  );
  if (failover) {
    printTable(
      `Failover (${failover.connected} clients through the gateway; replica 2 killed with SIGKILL; time from the kill until each of its clients re-joined its room on replica 1, in s)`,
      [
        {
          'clients moved': failover.moved,
          're-joined': failover.moved - failover.stillOut,
          p50: round(failover.rejoined.p50 / 1000, 2),
          p90: round(failover.rejoined.p90 / 1000, 2),
          p99: round(failover.rejoined.p99 / 1000, 2),
          max: round(failover.rejoined.max / 1000, 2),
          'failed attempts': failover.reconnectErrors,
          'survivor CPU': `${Math.round(failover.survivorCpu)}%`,
          'clients per replica after': JSON.stringify(failover.instancesAfter),
          [`then ${failover.afterLoad.offered}/s offered: deliveries/s`]: Math.round(failover.afterLoad.achieved),
          'p99 ms': round(failover.afterLoad.all.p99),
          'send errors': failover.afterLoad.sendErrors,
        },
      ],
    );
    if (failover.errors.length) console.log(`re-join errors, e.g.: ${failover.errors.join('; ')}`);
  }
}

main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const p of processes) if (p.exitCode === null) p.kill('SIGKILL');
  });
