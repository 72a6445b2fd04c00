import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import amqp from 'amqplib';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';
import { testInfra, waitFor } from '@nself/test-support';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface SpawnedWorker {
  process: ChildProcess;
  port: number;
  output: () => string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs src/worker.ts as its own process (as in production) and waits for its /ready. */
export async function spawnWorker(env: Record<string, string>): Promise<SpawnedWorker> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', 'services/notifications/src/worker.ts'],
    {
      cwd: testInfra().repoRoot,
      env: { ...process.env, ...env, NOTIFICATIONS_WORKER_PORT: String(port), LOG_LEVEL: env.LOG_LEVEL ?? 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`worker exited early:\n${out}`);
      const res = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => null);
      return res?.status === 200;
    },
    { timeoutMs: 45_000, intervalMs: 100, label: 'the worker process to be ready' },
  ).catch((error: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${error.message}\n${out}`);
  });
  return {
    process: child,
    port,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/**
 * An SMTP receiver whose acceptance can be held: while held, a transaction whose data has arrived
 * waits for its "250" reply. A transaction whose client disconnects before the reply is discarded
 * (the message was never accepted, RFC 5321 §4.1.1.4), exactly as a real MTA that has not yet taken
 * responsibility would do. Messages are stored when the 250 is given.
 */
export interface HoldingReceiver {
  port: number;
  messages: { to: string[]; raw: string; at: number }[];
  held(): number;
  /** Held transactions whose client is still connected. */
  heldOpen(): number;
  hold(): void;
  release(): void;
  /** Sessions that were closed while a transaction waited for its reply. */
  discarded(): number;
  close(): Promise<void>;
}

export async function startHoldingReceiver(options: { delayMs?: number } = {}): Promise<HoldingReceiver> {
  const messages: HoldingReceiver['messages'] = [];
  const closed = new Set<string>();
  let holding = false;
  let discarded = 0;
  const waiting: (() => void)[] = [];
  const heldSessions: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onClose(session) {
      closed.add(session.id);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
        if (holding) {
          heldSessions.push(session.id);
          await new Promise<void>((resolve) => waiting.push(resolve));
          heldSessions.splice(heldSessions.indexOf(session.id), 1);
        }
        if (closed.has(session.id)) {
          discarded += 1;
          callback(new Error('connection closed before the reply'));
          return;
        }
        messages.push({ to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    messages,
    held: () => heldSessions.length,
    heldOpen: () => heldSessions.filter((id) => !closed.has(id)).length,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      waiting.splice(0).forEach((resolve) => resolve());
    },
    discarded: () => discarded,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PrivateRabbit {
  url: string;
  node: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** Whether this machine can run a private RabbitMQ node (the server is installed and we may start it). */
export function canRunPrivateRabbit(): boolean {
  const which = spawnSync('sh', ['-c', 'command -v rabbitmq-server'], { encoding: 'utf8' });
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  return which.status === 0 && isRoot;
}

/**
 * A RabbitMQ node of its own (own node name, ports, data and log directories) so a test can restart a
 * real broker without touching the one everybody else's tests use. Its data directory survives stop()
 * and start(), like a broker restart in production.
 */
export async function createPrivateRabbit(): Promise<PrivateRabbit> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nself-rabbit-'));
  chmodSync(dir, 0o777);
  const port = await freePort();
  let distPort = await freePort();
  while (distPort === port) distPort = await freePort();
  const node = `nself-test-${path.basename(dir).replace(/[^A-Za-z0-9]/g, '').toLowerCase()}@localhost`;
  const conf = path.join(dir, 'rabbitmq.conf');
  writeFileSync(conf, `listeners.tcp.local = 127.0.0.1:${port}\nloopback_users = none\n`);
  chmodSync(conf, 0o644);
  const pidFile = path.join(dir, 'beam.pid');
  const env = {
    ...process.env,
    RABBITMQ_NODENAME: node,
    RABBITMQ_DIST_PORT: String(distPort),
    RABBITMQ_CONFIG_FILE: conf,
    RABBITMQ_MNESIA_BASE: path.join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(dir, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(dir, 'enabled_plugins'),
    RABBITMQ_PID_FILE: pidFile,
  };
  const url = `amqp://guest:guest@127.0.0.1:${port}`;

  const beamPid = (): number | null => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || null : null);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  async function start(): Promise<void> {
    rmSync(pidFile, { force: true });
    const child = spawn('rabbitmq-server', [], { env, detached: true, stdio: 'ignore' });
    child.unref();
    await waitFor(
      async () => {
        const connection = await amqp.connect(url).catch(() => null);
        if (!connection) return false;
        await connection.close();
        return true;
      },
      { timeoutMs: 90_000, intervalMs: 250, label: `private RabbitMQ ${node} to accept connections` },
    );
  }

  async function stop(): Promise<void> {
    const pid = beamPid();
    if (!pid) return;
    process.kill(pid, 'SIGTERM');
    await waitFor(() => !alive(pid), { timeoutMs: 60_000, intervalMs: 100, label: 'RabbitMQ to stop' });
  }

  return {
    url,
    node,
    start,
    stop,
    async destroy() {
      const pid = beamPid();
      if (pid && alive(pid)) {
        process.kill(pid, 'SIGTERM');
        await waitFor(() => !alive(pid), { timeoutMs: 60_000, intervalMs: 100, label: 'RabbitMQ to stop' }).catch(() => {
          if (alive(pid)) process.kill(pid, 'SIGKILL');
        });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
