import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createRealtimeClient, type RealtimeClient, type RealtimeClientEvents, type RealtimeClientOptions } from '@nself/realtime-client';
import { createMemoryLogger } from '@nself/logging';
import {
  signTestToken,
  TEST_ADMIN_SECRET,
  TEST_JWT_SECRET,
  testInfra,
  uniqueName,
  waitFor,
  type TestTokenOptions,
} from '@nself/test-support';
import { configFromEnv, realtimeEnvSchema } from '../src/config.js';
import { createRealtimeService, type RealtimeService } from '../src/service.js';

/** Environment for a realtime service on the test infrastructure, isolated by its own Redis prefix. */
export function realtimeTestEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const infra = testInfra();
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    REDIS_URL: infra.redisUrl,
    REDIS_KEY_PREFIX: `${infra.redisPrefix}:${uniqueName('rt')}`,
    AMQP_URL: infra.amqpUrl,
    EVENTS_EXCHANGE: uniqueName('events'),
    REALTIME_RELAY_QUEUE: uniqueName('realtime-relay'),
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_SECRET: TEST_ADMIN_SECRET,
    REALTIME_PORT: '0',
    REALTIME_HOST: '127.0.0.1',
    REALTIME_CORS_ORIGIN: 'http://app.example',
    REALTIME_DB_FLUSH_MS: '100',
    ...overrides,
  };
}

export interface InProcessRealtime {
  service: RealtimeService;
  url: string;
  port: number;
  env: Record<string, string>;
  logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** One realtime service inside the test process (for everything but the multi-replica scenarios). */
export async function startInProcess(overrides: Record<string, string> = {}): Promise<InProcessRealtime> {
  const env = realtimeTestEnv(overrides);
  const config = configFromEnv(realtimeEnvSchema.parse(env));
  const { logger, lines } = createMemoryLogger('realtime');
  logger.level = env.LOG_LEVEL === 'debug' ? 'debug' : 'warn';
  const service = createRealtimeService(config, { logger });
  const port = await service.start();
  return { service, url: `http://127.0.0.1:${port}`, port, env, logs: lines, stop: () => service.stop() };
}

export interface SpawnedProcess {
  child: ChildProcess;
  port: number;
  url: string;
  lines: Record<string, unknown>[];
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns a TypeScript entry (`node --conditions=source --import tsx <entry>`) and resolves once a JSON
 * log line with `msg === readyMessage` and a `port` appears.
 */
export async function spawnEntry(entry: string, env: Record<string, string>, readyMessage: string): Promise<SpawnedProcess> {
  const root = testInfra().repoRoot;
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', path.join(root, entry)], {
    cwd: root,
    env: { ...process.env, ...env, LOG_LEVEL: env.LOG_LEVEL ?? 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  const ready = new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (parsed.msg === readyMessage && typeof parsed.port === 'number') resolve(parsed.port);
      } catch {
        stderr.push(line);
      }
    });
    void exited.then((code) => reject(new Error(`${entry} exited (${code}) before it was ready:\n${stderr.join('\n')}`)));
  });
  const timeout = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const port = await ready.finally(() => clearTimeout(timeout));
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    lines,
    exited,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export function token(options: TestTokenOptions = {}): string {
  return signTestToken(options);
}

/** A connected SDK client (direct to a replica unless a path is given). */
export async function connect(
  url: string,
  options: TestTokenOptions & { client?: Partial<RealtimeClientOptions>; anonymous?: boolean } = {},
): Promise<RealtimeClient> {
  const { client: clientOptions, anonymous, ...tokenOptions } = options;
  const client = createRealtimeClient({
    url,
    path: '/socket.io',
    token: anonymous ? undefined : signTestToken(tokenOptions),
    reconnectionDelayMs: 100,
    reconnectionDelayMaxMs: 500,
    ackTimeoutMs: 10_000,
    ...clientOptions,
  });
  await client.connect();
  return client;
}

/** Collects every payload of one client event. */
export function collect<E extends keyof RealtimeClientEvents>(client: RealtimeClient, event: E): RealtimeClientEvents[E][] {
  const seen: RealtimeClientEvents[E][] = [];
  client.on(event, (payload) => seen.push(payload));
  return seen;
}

export { uniqueName, waitFor, TEST_ADMIN_SECRET };

export function adminHeaders(account: string): Record<string, string> {
  return { 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account };
}

export function bearerFor(options: TestTokenOptions): Record<string, string> {
  return { authorization: `Bearer ${signTestToken(options)}` };
}
