import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RealtimeClient } from '@nself/realtime-client';
import { testInfra } from '@nself/test-support';
import { buildCli } from '../src/cli.js';
import { collect, connect, startInProcess, uniqueName, waitFor, type InProcessRealtime } from './helpers.js';

const run = promisify(execFile);
let rt: InProcessRealtime;
const clients: RealtimeClient[] = [];
let initRun: Promise<string>;

beforeAll(async () => {
  rt = await startInProcess();
  // `init` runs the real migration runner (a few seconds); it overlaps the other tests.
  initRun = cli('primary', 'init');
  initRun.catch(() => undefined);
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await rt?.stop();
});

function cliEnv(): NodeJS.ProcessEnv {
  const { JWT_SECRET: _secret, ...env } = rt.env;
  return { ...process.env, ...env };
}

/** Runs the CLI program in-process with the service's database and Redis settings (no JWT); returns what it printed. */
async function cli(account: string, ...args: string[]): Promise<string> {
  const out: string[] = [];
  const program = buildCli({ write: (text) => out.push(text), env: cliEnv() }).exitOverride();
  await program.parseAsync(['--account', account, ...args], { from: 'user' });
  return out.join('\n');
}

/** Runs the real bin entry in its own process. */
async function cliProcess(account: string, ...args: string[]): Promise<string> {
  const root = testInfra().repoRoot;
  const { stdout } = await run(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', path.join(root, 'services/realtime/src/cli.ts'), '--account', account, ...args],
    { cwd: root, env: cliEnv(), timeout: 60_000 },
  );
  return stdout;
}

describe('CLI (talks to PostgreSQL and Redis directly; reaches sockets through the Redis emitter)', { timeout: 120_000 }, () => {
  it('creates, inspects, lists and changes rooms; members removed or rooms deleted leave live sockets', async () => {
    const account = uniqueName('acct');
    const created = JSON.parse(await cli(account, '--json', 'rooms', 'create', 'ops', '--private', '--owner', 'olga', '--max-members', '5', '--members', 'pete')) as {
      room: { id: string };
    };
    const roomId = created.room.id;
    expect(await cli(account, 'rooms', 'add-member', 'ops', 'quinn', '--role', 'admin')).toContain('added quinn to ops as admin');

    const pete = await connect(rt.url, { sub: 'pete', sourceAccountId: account });
    clients.push(pete);
    await pete.join(roomId);
    const left = collect(pete, 'room:left');

    const [info, list] = await Promise.all([cli(account, '--json', 'rooms', 'info', roomId), cli(account, 'rooms', 'list')]);
    const parsed = JSON.parse(info) as { room: { name: string; maxMembers: number }; onlineCount: number; members: { members: { userId: string; role: string }[] } };
    expect(parsed.room).toMatchObject({ name: 'ops', maxMembers: 5 });
    expect(parsed.onlineCount).toBe(1);
    expect(parsed.members.members.map((m) => `${m.userId}:${m.role}`).sort()).toEqual(['olga:owner', 'pete:member', 'quinn:admin']);
    expect(list).toMatch(/ops\s+channel\s+private\s+olga/);

    expect(await cli(account, 'rooms', 'remove-member', 'ops', 'pete')).toContain('removed pete from ops');
    await waitFor(() => left.length === 1, { label: 'room:left after CLI remove-member' });
    expect(left[0]).toEqual({ roomId, reason: 'kicked' });
    await expect(pete.join(roomId)).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });

    expect(await cli(account, 'rooms', 'delete', roomId)).toContain('deleted room');
    expect(await cli(account, 'rooms', 'list')).toContain('(none)');
    await expect(cli(account, 'rooms', 'info', roomId)).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
  });

  it('shows status, connections and events, and disconnects a socket on its replica', async () => {
    const account = uniqueName('acct');
    const c = await connect(rt.url, { sub: 'victor', sourceAccountId: account });
    clients.push(c);
    const gone = collect(c, 'disconnect');
    const connections = await waitFor(
      async () => {
        const out = JSON.parse(await cli(account, '--json', 'connections')) as { connections: { socketId: string; userId: string }[] };
        return out.connections.length === 1 ? out.connections : null;
      },
      { timeoutMs: 20_000, label: 'connection listed' },
    );
    expect(connections[0]!.userId).toBe('victor');

    // The bin entry itself, as an operator runs it.
    const [status, events] = await Promise.all([cliProcess(account, 'status'), cli(account, 'events', '--type', 'connect')]);
    expect(status).toContain(rt.service.config.instanceId);
    // One user present. (Whether the mirror says online or away can depend on another test file's
    // replica, which runs update_presence_from_activity with a 1.5 s away timeout on the shared database.)
    const [, online, away, busy] = /presence:\s+(\d+) online, (\d+) away, (\d+) busy/.exec(status) ?? [];
    expect(Number(online) + Number(away) + Number(busy)).toBe(1);
    expect(events).toMatch(/connect\s+victor/);

    expect(await cli(account, 'disconnect', connections[0]!.socketId)).toContain('disconnect sent');
    await waitFor(() => gone.length === 1, { label: 'disconnected by the CLI' });
    expect(gone[0]!.reason).toBe('io server disconnect');
    await expect(cli(uniqueName('acct'), 'disconnect', 'no-such-socket')).rejects.toMatchObject({ code: 'CONNECTION_NOT_FOUND' });
    await expect(cliProcess(uniqueName('acct'), 'disconnect', 'no-such-socket')).rejects.toThrow(/CONNECTION_NOT_FOUND/);
  });

  it('init applies the migrations (idempotent)', async () => {
    expect(await initRun).toMatch(/No pending migrations|applied/i);
  });
});
