/**
 * idme benchmark: callback → verified record latency against a local OpenID Provider.
 *
 * The idme service runs as its own process (src/main.ts, as in production). This process plays ID.me
 * (oidc-provider configured like ID.me, with the attributes endpoint) and the browsers. Flows are first
 * driven up to the redirect back to the service (start → provider login form → callback URL), untimed;
 * then the callbacks are fired and timed: state consumption, the code exchange with PKCE at the
 * provider's token endpoint, id_token validation against its JWKS, the attributes call, the database
 * transaction (verification, groups, badges, attributes), the idme.verified event with publisher
 * confirms, and the redirect. The 302 is sent after the commit; every record is checked afterwards.
 *
 *   npm run bench:idme      (IDME_BENCH_FLOWS=300 IDME_BENCH_CONCURRENCY=8 change the load)
 *
 * Needs PostgreSQL and RabbitMQ on loopback (. infra/local/ensure-infra.sh); it makes and drops its own
 * database and uses its own exchange.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMigrations, createPrisma } from '@nself/db';
import { signTestToken, TEST_JWT_SECRET } from '@nself/test-support';
import pg from 'pg';
import { printTable, summarize } from '../lib/stats.js';
import { signInAtProvider, TestBrowser } from '../../services/idme/test/support/browser.js';
import { ACCOUNTS, IDME_SCOPES, startFakeIdme, type FakeIdme } from '../../services/idme/test/support/fake-idme.js';

const FLOWS = Number(process.env.IDME_BENCH_FLOWS ?? 300);
const CONCURRENCY = Number(process.env.IDME_BENCH_CONCURRENCY ?? 8);
const PREPARE_CONCURRENCY = 4;
const WARMUP = 20;
const TARGET_P99_MS = 300;
const RETURN_URL = 'https://app.example.test/after-idme';
const CLIENT_ID = 'bench-client';
const CLIENT_SECRET = 'bench-client-secret-0123456789abcdef';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const adminUrl = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const amqpUrl = process.env.NSELF_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`idme exited (${child.exitCode}):\n${output()}`);
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`idme not ready:\n${output()}`);
}

interface Prepared {
  userId: string;
  account: string;
  browser: TestBrowser;
  callbackUrl: string;
}

async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function main(): Promise<void> {
  const runId = Date.now().toString(36);
  const database = `nself_bench_idme_${runId}`;
  await admin(`CREATE DATABASE "${database}"`);
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${database}`;
  const databaseUrl = dbUrl.toString();
  let fake: FakeIdme | undefined;
  let child: ChildProcess | undefined;
  const prisma = createPrisma(databaseUrl, { maxConnections: 2 });
  try {
    await applyMigrations(databaseUrl);
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const redirectUri = `${baseUrl}/v1/auth/callback`;
    fake = await startFakeIdme({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [redirectUri] }], codeTtlSeconds: 600 });
    fake.addAccount('veteran', ACCOUNTS.veteran);

    let output = '';
    child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(repoRoot, 'services/idme/src/main.ts')], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'warn',
        IDME_PORT: String(port),
        IDME_HOST: '127.0.0.1',
        DATABASE_URL: databaseUrl,
        AMQP_URL: amqpUrl,
        EVENTS_EXCHANGE: `bench.idme.${runId}`,
        JWT_SECRET: TEST_JWT_SECRET,
        IDME_CLIENT_ID: CLIENT_ID,
        IDME_CLIENT_SECRET: CLIENT_SECRET,
        IDME_REDIRECT_URI: redirectUri,
        IDME_SCOPES: IDME_SCOPES.join(','),
        IDME_BASE_URL: fake.baseUrl,
        IDME_ALLOW_INSECURE_HTTP: 'true',
        IDME_ALLOWED_RETURN_URLS: RETURN_URL,
        IDME_COOKIE_SECURE: 'false',
        IDME_TOKEN_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
    await waitReady(`${baseUrl}/ready`, child, () => output);

    let seq = 0;
    const prepare = (count: number) =>
      pool(count, PREPARE_CONCURRENCY, async (): Promise<Prepared> => {
        seq += 1;
        const userId = `bench-user-${seq}`;
        const account = `bench-${runId}-${seq}`;
        const browser = new TestBrowser();
        const start = await browser.get(`${baseUrl}/v1/auth/start`, {
          authorization: `Bearer ${signTestToken({ sub: userId, sourceAccountId: account })}`,
        });
        if (start.status !== 302 || !start.location) throw new Error(`start answered ${start.status}: ${start.text}`);
        const callbackUrl = await signInAtProvider(browser, start.location, 'veteran', redirectUri);
        return { userId, account, browser, callbackUrl };
      });

    const fire = async (flows: Prepared[], concurrency: number) => {
      const started = performance.now();
      const samples = await pool(flows.length, concurrency, async (i) => {
        const flow = flows[i]!;
        const t0 = performance.now();
        const hop = await flow.browser.get(flow.callbackUrl);
        const ms = performance.now() - t0;
        if (hop.status !== 302 || hop.location !== `${RETURN_URL}?idme=verified`) {
          throw new Error(`callback answered ${hop.status} ${hop.location ?? hop.text}`);
        }
        return ms;
      });
      const seconds = (performance.now() - started) / 1000;
      const verified = await prisma.idmeVerification.count({
        where: { sourceAccountId: { in: flows.map((f) => f.account) }, status: 'verified', groups: { some: { group: 'veteran' } } },
      });
      if (verified !== flows.length) throw new Error(`${flows.length - verified} callbacks left no verified record`);
      return { samples, seconds };
    };

    await fire(await prepare(WARMUP), 1);
    const sequential = await fire(await prepare(FLOWS), 1);
    const concurrent = await fire(await prepare(FLOWS), CONCURRENCY);

    const row = (phase: string, run: { samples: number[]; seconds: number }) => {
      const s = summarize(run.samples);
      return { phase, flows: s.count, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, mean: s.mean, 'flows/s': s.count / run.seconds };
    };
    const rows = [row('sequential (1 in flight)', sequential), row(`concurrent (${CONCURRENCY} in flight)`, concurrent)];
    printTable('idme: callback → verified record latency (ms), local OpenID Provider', rows);
    const p99 = rows[0]!.p99;
    console.log(`\ntarget p99 ≤ ${TARGET_P99_MS} ms (one callback at a time): ${p99 <= TARGET_P99_MS ? 'met' : 'NOT met'} (p99 ${p99.toFixed(1)} ms)`);
    console.log(`with ${CONCURRENCY} callbacks in flight: p99 ${rows[1]!.p99.toFixed(1)} ms`);
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await fake?.close();
    await prisma.$disconnect();
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
