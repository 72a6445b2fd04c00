/**
 * idme benchmark: callback → verified record latency against a local OpenID Provider.
 *
 * Each flow is driven like a browser (start → provider login form → redirect back) untimed; what is
 * timed is the callback request alone: state consumption, the code exchange with PKCE at the
 * provider's token endpoint, id_token validation against its JWKS, the attributes call, the database
 * transaction (verification, groups, badges, attributes), the idme.verified event with publisher
 * confirms, and the redirect. The record is checked to exist after every timed callback.
 *
 *   npm run bench:idme            (IDME_BENCH_FLOWS=300 IDME_BENCH_CONCURRENCY=8 to change the load)
 *
 * Needs PostgreSQL and RabbitMQ on loopback (. infra/local/ensure-infra.sh); it makes and drops its own
 * database. The provider runs in this process, so its CPU is part of the figures (pessimistic).
 */
import { applyMigrations } from '@nself/db';
import pg from 'pg';
import { printTable, summarize } from '../lib/stats.js';
import { TestBrowser } from '../../services/idme/test/support/browser.js';
import { newUser, reachCallback, RETURN_URL, startHarness, type Harness } from '../../services/idme/test/support/harness.js';

const FLOWS = Number(process.env.IDME_BENCH_FLOWS ?? 300);
const CONCURRENCY = Number(process.env.IDME_BENCH_CONCURRENCY ?? 8);
const WARMUP = 20;
const TARGET_P99_MS = 300;

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

/** One flow: untimed up to the callback URL, then the timed callback; returns ms. */
async function oneFlow(h: Harness, account: string): Promise<number> {
  const user = newUser();
  const browser = new TestBrowser();
  const callbackUrl = await reachCallback(h, browser, user, account);
  const started = performance.now();
  const hop = await browser.get(callbackUrl);
  const ms = performance.now() - started;
  if (hop.status !== 302 || hop.location !== `${RETURN_URL}?idme=verified`) {
    throw new Error(`callback answered ${hop.status} ${hop.location ?? hop.text}`);
  }
  const row = await h.deps.prisma.idmeVerification.findUnique({
    where: { sourceAccountId_userId: { sourceAccountId: user.account, userId: user.userId } },
    select: { status: true, _count: { select: { groups: true, badges: true } } },
  });
  if (row?.status !== 'verified' || row._count.groups !== 2 || row._count.badges !== 2) {
    throw new Error(`no verified record after the callback: ${JSON.stringify(row)}`);
  }
  return ms;
}

async function runPhase(h: Harness, flows: number, concurrency: number): Promise<{ samples: number[]; seconds: number }> {
  const samples: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < flows) {
        next += 1;
        samples.push(await oneFlow(h, 'veteran'));
      }
    }),
  );
  return { samples, seconds: (performance.now() - started) / 1000 };
}

async function main(): Promise<void> {
  const database = `nself_bench_idme_${Date.now().toString(36)}`;
  await admin(`CREATE DATABASE "${database}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  const databaseUrl = url.toString();
  let h: Harness | undefined;
  try {
    await applyMigrations(databaseUrl);
    h = await startHarness({ databaseUrl, amqpUrl, tokenKey: true });
    await runPhase(h, WARMUP, 1);

    const sequential = await runPhase(h, FLOWS, 1);
    const concurrent = await runPhase(h, FLOWS, CONCURRENCY);
    const rows = [
      { phase: 'sequential (1 in flight)', ...stats(sequential) },
      { phase: `concurrent (${CONCURRENCY} in flight)`, ...stats(concurrent) },
    ];
    printTable('idme: callback → verified record latency (ms), local OpenID Provider', rows);
    const worst = Math.max(...rows.map((r) => r.p99));
    console.log(`\ntarget p99 ≤ ${TARGET_P99_MS} ms: ${worst <= TARGET_P99_MS ? 'met' : 'NOT met'} (worst p99 ${worst.toFixed(1)} ms)`);
  } finally {
    await h?.close();
    await admin(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
  }
}

function stats(run: { samples: number[]; seconds: number }) {
  const s = summarize(run.samples);
  return { flows: s.count, p50: s.p50, p90: s.p90, p99: s.p99, max: s.max, mean: s.mean, 'flows/s': s.count / run.seconds };
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
