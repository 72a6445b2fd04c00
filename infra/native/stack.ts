/**
 * Starts and supervises the whole stack natively: the gateway, the five services and their workers, on
 * the local PostgreSQL/Redis/RabbitMQ/clamd (infra/local/ensure-infra.sh), with embedded defaults where a
 * dependency can be embedded: file storage on local disk instead of S3, the notifications worker's SMTP
 * sink instead of a mail server, and a local ID.me stand-in when no ID.me credentials are configured.
 *
 * Settings: a `.env` at the repository root overrides any variable (e.g. real IDME_CLIENT_ID/SECRET,
 * an S3 endpoint, SMTP settings). Generated secrets, logs and files live in `.native/`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { applyMigrations } from '@nself/db';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const state = path.join(repo, '.native');
const logs = path.join(state, 'logs');
mkdirSync(logs, { recursive: true });

function readEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => /^\s*([A-Z][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line))
    .filter((m): m is RegExpExecArray => Boolean(m))
    .map((m) => [m[1]!, m[2]!.replace(/^(['"])(.*)\1$/, '$2')]);
  return Object.fromEntries(entries);
}

/** Secrets generated on the first run and kept, so tokens and encrypted rows survive restarts. */
function secrets(): Record<string, string> {
  const file = path.join(state, 'secrets.env');
  const existing = readEnvFile(file);
  const wanted = [
    'JWT_SECRET',
    'ADMIN_SECRET',
    'FILE_URL_SIGNING_SECRET',
    'FILE_STORAGE_EVENT_SECRET',
    'IDME_CLIENT_SECRET',
    'IDME_TOKEN_ENCRYPTION_KEY',
    'IDME_WEBHOOK_SECRET',
    'NOTIFICATIONS_WEBHOOK_SECRET',
  ];
  let changed = false;
  for (const name of wanted) {
    if (!existing[name]) {
      existing[name] = name === 'IDME_TOKEN_ENCRYPTION_KEY' ? randomBytes(32).toString('base64') : randomBytes(32).toString('base64url');
      changed = true;
    }
  }
  if (changed) {
    writeFileSync(file, Object.entries(existing).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
  }
  return existing;
}

async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

interface ProcessSpec {
  name: string;
  script: string;
  env: Record<string, string>;
  /** Answers 200 once the process is up. */
  healthUrl: string;
}

const children = new Map<string, ChildProcess>();
let stopping = false;

function start(spec: ProcessSpec, base: Record<string, string>, restarts = 0): void {
  const log = createWriteStream(path.join(logs, `${spec.name}.log`), { flags: 'a' });
  const child = spawn(process.execPath, spec.script.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx', spec.script] : [spec.script], {
    cwd: repo,
    env: { ...process.env, ...base, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  children.set(spec.name, child);
  child.once('exit', (code, signal) => {
    children.delete(spec.name);
    if (stopping) return;
    const delay = Math.min(30_000, 1000 * 2 ** restarts);
    console.error(`[native] ${spec.name} exited (${signal ?? code}); restarting in ${delay / 1000} s — see .native/logs/${spec.name}.log`);
    setTimeout(() => start(spec, base, restarts + 1), delay).unref();
  });
}

async function waitHealthy(spec: ProcessSpec, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(spec.healthUrl, { signal: AbortSignal.timeout(1000) })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function main(): Promise<void> {
  const overrides = readEnvFile(path.join(repo, '.env'));
  const secret = secrets();
  const adminUrl = process.env.NSELF_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
  const databaseUrl = overrides.DATABASE_URL ?? (await ensureDatabase(adminUrl, 'nself'));
  console.error('[native] applying migrations');
  await applyMigrations(databaseUrl);

  const gatewayUrl = `http://localhost:${overrides.GATEWAY_PORT ?? 8080}`;
  const idmeStandIn = !overrides.IDME_CLIENT_ID;
  const base: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.NSELF_REDIS_URL ?? 'redis://127.0.0.1:6379',
    AMQP_URL: process.env.NSELF_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
    REDIS_KEY_PREFIX: 'nself',
    JWT_SECRET: secret.JWT_SECRET!,
    ADMIN_SECRET: secret.ADMIN_SECRET!,
    // file-processing: local disk storage, links signed by the service, served through the gateway.
    FILE_STORAGE_LOCAL_DIR: path.join(state, 'files'),
    FILE_PUBLIC_URL: `${gatewayUrl}/files`,
    FILE_URL_SIGNING_SECRET: secret.FILE_URL_SIGNING_SECRET!,
    FILE_STORAGE_EVENT_SECRET: secret.FILE_STORAGE_EVENT_SECRET!,
    FILE_ENABLE_VIRUS_SCAN: 'true',
    FILE_CLAMD_HOST: process.env.NSELF_CLAMD_HOST ?? '127.0.0.1',
    FILE_CLAMD_PORT: process.env.NSELF_CLAMD_PORT ?? '3310',
    // idme: the local stand-in unless real credentials are configured in .env.
    IDME_CLIENT_ID: 'nself-native',
    IDME_CLIENT_SECRET: secret.IDME_CLIENT_SECRET!,
    IDME_REDIRECT_URI: `${gatewayUrl}/idme/v1/auth/callback`,
    IDME_ALLOWED_RETURN_URLS: gatewayUrl,
    IDME_COOKIE_SECURE: 'false',
    IDME_TOKEN_ENCRYPTION_KEY: secret.IDME_TOKEN_ENCRYPTION_KEY!,
    IDME_WEBHOOK_SECRET: secret.IDME_WEBHOOK_SECRET!,
    ...(idmeStandIn
      ? { IDME_ISSUER_URL: 'http://127.0.0.1:3011/oidc', IDME_ALLOW_INSECURE_HTTP: 'true' }
      : {}),
    NOTIFICATIONS_WEBHOOK_SECRET: secret.NOTIFICATIONS_WEBHOOK_SECRET!,
    // gateway: upstreams and the infrastructure its /ready checks.
    REALTIME_URLS: 'http://127.0.0.1:3101',
    NOTIFICATIONS_URL: 'http://127.0.0.1:3102',
    FILES_URL: 'http://127.0.0.1:3104',
    JOBS_URL: 'http://127.0.0.1:3105',
    IDME_URL: 'http://127.0.0.1:3010',
    NOTIFICATIONS_WORKER_URL: 'http://127.0.0.1:3112',
    FILES_WORKER_URL: 'http://127.0.0.1:3114',
    JOBS_WORKER_URL: 'http://127.0.0.1:3115',
    JOBS_NOTIFICATIONS_URL: 'http://127.0.0.1:3102',
    ...overrides,
  };

  const svc = (name: string, entry: string) => path.join('services', name, 'dist', entry);
  const specs: ProcessSpec[] = [
    ...(idmeStandIn
      ? [{ name: 'idme-standin', script: 'infra/native/idme-standin.ts', env: { NODE_ENV: 'development' }, healthUrl: 'http://127.0.0.1:3011/oidc/.well-known/openid-configuration' }]
      : []),
    { name: 'realtime', script: svc('realtime', 'main.js'), env: {}, healthUrl: 'http://127.0.0.1:3101/health' },
    { name: 'notifications', script: svc('notifications', 'main.js'), env: {}, healthUrl: 'http://127.0.0.1:3102/health' },
    { name: 'notifications-worker', script: svc('notifications', 'worker.js'), env: {}, healthUrl: 'http://127.0.0.1:3112/health' },
    { name: 'file-processing', script: svc('file-processing', 'main.js'), env: {}, healthUrl: 'http://127.0.0.1:3104/health' },
    { name: 'file-processing-worker', script: svc('file-processing', 'worker.js'), env: {}, healthUrl: 'http://127.0.0.1:3114/health' },
    { name: 'jobs', script: svc('jobs', 'main.js'), env: {}, healthUrl: 'http://127.0.0.1:3105/health' },
    { name: 'jobs-worker', script: svc('jobs', 'worker.js'), env: {}, healthUrl: 'http://127.0.0.1:3115/health' },
    {
      name: 'idme',
      script: svc('idme', 'main.js'),
      env: idmeStandIn ? { NODE_ENV: 'development' } : {},
      healthUrl: 'http://127.0.0.1:3010/health',
    },
    { name: 'gateway', script: path.join('gateway', 'dist', 'main.js'), env: {}, healthUrl: `http://127.0.0.1:${base.GATEWAY_PORT ?? 8080}/health` },
  ];

  for (const spec of specs) {
    start(spec, base);
    // The stand-in must answer discovery before idme starts.
    if (spec.name === 'idme-standin') await waitHealthy(spec);
  }
  const healthy = await Promise.all(specs.map((s) => waitHealthy(s)));
  for (const [i, spec] of specs.entries()) {
    console.error(`[native] ${spec.name.padEnd(24)} ${healthy[i] ? 'up' : 'NOT UP (see .native/logs/' + spec.name + '.log)'}`);
  }
  console.error(`[native] gateway on ${gatewayUrl} — try: curl ${gatewayUrl}/ready`);
  console.error(`[native] admin secret and JWT secret are in .native/secrets.env; Ctrl-C stops everything`);
}

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.error(`[native] ${signal}: stopping ${children.size} processes`);
  const exits = [...children.values()].map((child) => new Promise((r) => child.once('exit', r)));
  for (const child of children.values()) child.kill('SIGTERM');
  await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, 20_000))]);
  for (const child of children.values()) child.kill('SIGKILL');
  process.exit(0);
}

process.once('SIGINT', () => void stop('SIGINT'));
process.once('SIGTERM', () => void stop('SIGTERM'));
await main();
