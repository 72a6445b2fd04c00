import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createPrisma, type PrismaClient } from '@nself/db';
import { createMemoryLogger, type Logger } from '@nself/logging';
import { TEST_ADMIN_SECRET, TEST_JWT_SECRET, testInfra, uniqueName, waitFor } from '@nself/test-support';
import { loadJobsConfig, type JobsConfig } from '../src/config.js';

/** The environment of a jobs test: its own queues; the run's database, Redis prefix and S3. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const infra = testInfra();
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    REDIS_KEY_PREFIX: infra.redisPrefix,
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_SECRET: TEST_ADMIN_SECRET,
    JOBS_PORT: '0',
    JOBS_WORKER_PORT: '0',
    JOBS_QUEUES: `${uniqueName('q')},${uniqueName('q')}`,
    JOBS_MIRROR_FLUSH_MS: '20',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): { config: JobsConfig; env: Record<string, string> } {
  const env = testEnv(overrides);
  return { config: loadJobsConfig(env as NodeJS.ProcessEnv), env };
}

export function quietLogger(): Logger {
  return createMemoryLogger('jobs-test').logger;
}

let prisma: PrismaClient | undefined;
/** A Prisma client on the run's database, for asserting on the mirror tables. */
export function db(): PrismaClient {
  prisma ??= createPrisma(testInfra().databaseUrl, { maxConnections: 3 });
  return prisma;
}

export interface Recorded {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export interface StandIn {
  url: string;
  port: number;
  requests: Recorded[];
  close(): Promise<void>;
}

/** A local HTTP stand-in (webhook target, notifications API, …) on the given loopback address. */
export async function startStandIn(
  handler: (req: Recorded, res: ServerResponse) => void | Promise<void>,
  host = '127.0.0.1',
): Promise<StandIn> {
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      };
      requests.push(recorded);
      void Promise.resolve(handler(recorded, res)).catch(() => {
        res.statusCode = 500;
        res.end();
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ServiceProcess {
  child: ChildProcess;
  port: number;
  output: () => string;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** Spawns a service entry (src/main.ts, src/worker.ts, gateway) and waits for its "listening" log line. */
export async function spawnService(
  entry: string,
  env: Record<string, string>,
  args: string[] = [],
  readyPattern = /"port":(\d+)/,
): Promise<ServiceProcess> {
  const root = testInfra().repoRoot;
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(root, entry), ...args], {
    cwd: root,
    env: { PATH: process.env.PATH, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  const port = await waitFor(
    () => {
      if (exited) throw new Error(`${entry} exited: ${out.slice(-2000)}`);
      const match = readyPattern.exec(out);
      return match ? Number(match[1]) : 0;
    },
    { timeoutMs: 60_000, intervalMs: 100, label: `${entry} to start` },
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${out.slice(-3000)}`);
  });
  return {
    child,
    port,
    output: () => out,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
    },
    async kill9() {
      if (!exited) child.kill('SIGKILL');
      await exit;
    },
  };
}

export const admin = { 'x-admin-secret': TEST_ADMIN_SECRET };
