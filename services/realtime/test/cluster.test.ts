/**
 * Acceptance: three realtime replicas as separate processes behind the real gateway (also a separate
 * process), real socket.io-client instances (through the SDK), shared Redis/Postgres/RabbitMQ.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRealtimeClient, type RealtimeClient, type RealtimeClientOptions } from '@nself/realtime-client';
import { signTestToken, type TestTokenOptions } from '@nself/test-support';
import { adminHeaders, bearerFor, collect, realtimeTestEnv, spawnEntry, uniqueName, waitFor, type SpawnedProcess } from './helpers.js';

let replicas: SpawnedProcess[] = [];
let gateway: SpawnedProcess;
let env: Record<string, string>;
const clients: RealtimeClient[] = [];
const instanceOf = new Map<SpawnedProcess, string>();

beforeAll(async () => {
  env = realtimeTestEnv({ LOG_LEVEL: 'info', REALTIME_DB_FLUSH_MS: '200' });
  replicas = await Promise.all([0, 1, 2].map((i) => spawnEntry('services/realtime/src/main.ts', { ...env, REALTIME_INSTANCE_ID: `replica-${i}-${env.REDIS_KEY_PREFIX}` }, 'realtime listening')));
  replicas.forEach((r, i) => instanceOf.set(r, `replica-${i}-${env.REDIS_KEY_PREFIX}`));
  gateway = await spawnEntry(
    'gateway/src/main.ts',
    {
      ...env,
      GATEWAY_PORT: '0',
      GATEWAY_HOST: '127.0.0.1',
      GATEWAY_RATE_LIMIT: '0',
      REALTIME_URLS: replicas.map((r) => r.url).join(','),
      LOG_LEVEL: 'info',
    },
    'gateway listening',
  );
}, 120_000);

afterAll(async () => {
  for (const c of clients) c.disconnect();
  await Promise.all([gateway?.kill(), ...replicas.map((r) => r.kill())]);
});

const ids = () => replicas.map((r) => instanceOf.get(r)!);

function sdk(tokenOptions: TestTokenOptions, options: Partial<RealtimeClientOptions> = {}, url = gateway.url): RealtimeClient {
  const client = createRealtimeClient({
    url,
    token: signTestToken(tokenOptions),
    reconnectionDelayMs: 100,
    reconnectionDelayMaxMs: 500,
    ...options,
  });
  clients.push(client);
  return client;
}

/** Connects through the gateway until the client lands on the wanted replica (the gateway spreads new connections). */
async function connectOn(replica: number, tokenOptions: TestTokenOptions, options: Partial<RealtimeClientOptions> = {}): Promise<RealtimeClient> {
  for (let attempt = 0; attempt < 15; attempt += 1) {
    const client = sdk(tokenOptions, options);
    await client.connect();
    if (client.instanceId === ids()[replica]) return client;
    client.disconnect();
  }
  throw new Error(`could not land on replica ${replica}`);
}

async function api(method: 'get' | 'post' | 'patch' | 'delete', path: string, headers: Record<string, string>, body?: unknown) {
  const res = await fetch(`${gateway.url}/realtime${path}`, {
    method: method.toUpperCase(),
    headers: { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

async function createRoom(account: string, body: Record<string, unknown>, owner = 'owner'): Promise<string> {
  const res = await api('post', '/v1/rooms', bearerFor({ sub: owner, sourceAccountId: account }), body);
  expect(res.status).toBe(201);
  return (res.body.room as { id: string }).id;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('three replicas behind the gateway', () => {
  it('delivers a message sent on replica A to members on B and C, with one sequence', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'cross' });
    const a = await connectOn(0, { sub: 'alice', sourceAccountId: account });
    const b = await connectOn(1, { sub: 'bob', sourceAccountId: account });
    const c = await connectOn(2, { sub: 'carol', sourceAccountId: account });
    expect(new Set([a.instanceId, b.instanceId, c.instanceId]).size).toBe(3);
    const atB = collect(b, 'message:new');
    const atC = collect(c, 'message:new');
    await Promise.all([a.join(roomId), b.join(roomId), c.join(roomId)]);

    const sent = await a.send(roomId, 'hello from A');
    await b.send(roomId, 'hello from B');
    await waitFor(() => atB.length === 2 && atC.length === 2, { label: 'cross-replica delivery' });
    expect(atC.map((m) => [m.seq, m.senderId, m.content])).toEqual([
      [1, 'alice', 'hello from A'],
      [2, 'bob', 'hello from B'],
    ]);
    expect(atB[0]).toEqual(sent);
  });

  it('publishes each log entry once, from the append script: other replicas get the stored entry in sequence order', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'ordered' });
    const a = await connectOn(0, { sub: 'alice', sourceAccountId: account });
    const b = await connectOn(1, { sub: 'bob', sourceAccountId: account });
    const c = await connectOn(2, { sub: 'carol', sourceAccountId: account });
    await Promise.all([a.join(roomId), b.join(roomId), c.join(roomId)]);
    // What reaches bob's socket on the wire (the SDK would hide duplicates and reordering).
    const wire: { event: string; seq: number; payload: Record<string, unknown> }[] = [];
    for (const event of ['message:new', 'message:update', 'message:delete'] as const) {
      b.socket.on(event, (payload: { seq: number }) => wire.push({ event, seq: payload.seq, payload }));
    }
    // Fields that look like the sequence number inside the message must come through untouched.
    const data = { seq: 0.5, nested: { seq: 0.5 }, ratio: 1.25 };
    const sent = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.send(roomId, `a${i}`, { data })),
      ...Array.from({ length: 20 }, (_, i) => c.send(roomId, `c${i}`)),
    ]);
    const edited = await a.updateMessage(roomId, sent[0]!.id, { content: 'a0 edited' });
    const deleted = await c.deleteMessage(roomId, sent[20]!.id);
    await waitFor(() => wire.length === 42, { label: '42 entries at bob' });
    await pause(300);

    expect(wire).toHaveLength(42);
    expect(wire.map((w) => w.seq)).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    const bySeq = new Map<number, unknown>([...sent, edited, deleted].map((entry) => [entry.seq, entry]));
    for (const w of wire) expect(w.payload).toEqual(bySeq.get(w.seq));
    expect(wire.find((w) => w.payload.content === 'a3')!.payload.data).toEqual(data);
    expect(wire.slice(-2).map((w) => w.event)).toEqual(['message:update', 'message:delete']);
  });

  it('shows presence of a user on A from C, and keeps a two-device user online until both devices leave', async () => {
    const account = uniqueName('acct');
    const observer = await connectOn(2, { sub: 'observer', sourceAccountId: account });
    const phone = await connectOn(0, { sub: 'dana', sourceAccountId: account });
    // (connectOn may have discarded attempts that landed elsewhere; let their cleanup settle first.)
    await waitFor(async () => {
      const [p] = await observer.getPresence(['dana']);
      return p!.status === 'online' && p!.connections === 1;
    }, { label: 'dana online from C' });
    const changes = collect(observer, 'presence:changed');
    await observer.subscribePresence(['dana']);

    await phone.setPresence({ status: 'busy', statusText: 'on a call' });
    await waitFor(() => changes.some((p) => p.status === 'busy'), { label: 'busy from A seen at C' });
    const sinceBusy = () => changes.slice(changes.findIndex((p) => p.status === 'busy'));

    const laptop = await connectOn(1, { sub: 'dana', sourceAccountId: account });
    await waitFor(async () => (await observer.getPresence(['dana']))[0]!.connections === 2, { label: 'two devices' });
    phone.disconnect();
    await waitFor(async () => (await observer.getPresence(['dana']))[0]!.connections === 1, { label: 'one device left' });
    await pause(300);
    expect((await observer.getPresence(['dana']))[0]!.status).toBe('busy');
    expect(sinceBusy().some((p) => p.status === 'offline')).toBe(false);
    laptop.disconnect();
    await waitFor(() => changes.some((p) => p.status === 'offline'), { label: 'offline after the last device' });
    expect((await observer.getPresence(['dana']))[0]).toMatchObject({ status: 'offline', connections: 0 });
  });

  it('expires typing server-side and delivers the expiry to other replicas', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'typing' });
    const writer = await connectOn(0, { sub: 'writer', sourceAccountId: account });
    const reader = await connectOn(1, { sub: 'reader', sourceAccountId: account });
    await writer.join(roomId);
    await reader.join(roomId);
    const events = collect(reader, 'typing:event');
    await writer.startTyping(roomId);
    await waitFor(() => events.length === 1, { label: 'typing start' });
    await waitFor(() => events.length === 2, { timeoutMs: 10_000, label: 'typing expiry' });
    expect(events.map((e) => [e.userId, e.isTyping, e.reason])).toEqual([
      ['writer', true, 'started'],
      ['writer', false, 'expired'],
    ]);
  });

  it('keeps non-members out of private rooms, refuses banned users, and isolates other apps', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'private', visibility: 'private', members: ['member', 'troll'] });
    const member = await connectOn(0, { sub: 'member', sourceAccountId: account });
    const outsider = await connectOn(1, { sub: 'outsider', sourceAccountId: account });
    const troll = await connectOn(2, { sub: 'troll', sourceAccountId: account });
    const appB = uniqueName('acct');
    const otherApp = await connectOn(2, { sub: 'member', sourceAccountId: appB });
    // In app B nobody called "troll" ever connects: any presence event for it would come from app A.
    const spy = await connectOn(1, { sub: 'spy', sourceAccountId: appB });
    const outsiderSees = collect(outsider, 'message:new');
    const otherAppSees = {
      messages: collect(otherApp, 'message:new'),
      typing: collect(otherApp, 'typing:event'),
      presence: collect(spy, 'presence:changed'),
    };
    await spy.subscribePresence(['troll']);
    await troll.setPresence({ status: 'away', statusText: 'app A only' });

    await member.join(roomId);
    await troll.join(roomId);
    await expect(outsider.join(roomId)).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    await expect(outsider.send(roomId, 'let me in')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    await expect(otherApp.join(roomId)).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });

    const trollLeft = collect(troll, 'room:left');
    const ban = await api('patch', `/v1/rooms/${roomId}/members/troll`, bearerFor({ sub: 'owner', sourceAccountId: account }), { banned: true });
    expect(ban.status).toBe(200);
    await waitFor(() => trollLeft.length === 1, { label: 'banned user removed on its replica' });
    await expect(troll.join(roomId)).rejects.toMatchObject({ code: 'BANNED' });
    await expect(troll.send(roomId, 'x')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    // A fresh connection of the banned user on another replica is refused too.
    const trollAgain = await connectOn(0, { sub: 'troll', sourceAccountId: account });
    await expect(trollAgain.join(roomId)).rejects.toMatchObject({ code: 'BANNED' });

    await member.send(roomId, 'members only');
    await member.startTyping(roomId);
    await member.setPresence({ status: 'busy' });
    const memberSees = collect(member, 'message:new');
    await member.send(roomId, 'second');
    await waitFor(() => memberSees.length >= 1);
    await pause(500);
    expect(outsiderSees).toEqual([]);
    expect(otherAppSees).toEqual({ messages: [], typing: [], presence: [] });
  });

  it('refuses forged and expired tokens at the handshake through the gateway', async () => {
    const forged = sdk({ sub: 'x', secret: 'z'.repeat(40) });
    await expect(forged.connect()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    const expired = sdk({ sub: 'x', expiresInSeconds: -120 });
    await expect(expired.connect()).rejects.toMatchObject({ code: 'TOKEN_EXPIRED' });
    const none = createRealtimeClient({ url: gateway.url });
    clients.push(none);
    await expect(none.connect()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('works over long-polling through the gateway (sticky routing) alongside WebSocket clients', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'polling' });
    const poller = sdk({ sub: 'poller', sourceAccountId: account }, { transports: ['polling'], socketOptions: { withCredentials: true } });
    await poller.connect();
    expect(poller.socket.io.engine.transport.name).toBe('polling');
    const pollerReplica = poller.instanceId;
    const ws = await connectOn((ids().indexOf(pollerReplica!) + 1) % 3, { sub: 'ws', sourceAccountId: account });
    const got = collect(poller, 'message:new');
    await poller.join(roomId);
    await ws.join(roomId);
    for (let i = 0; i < 10; i += 1) await ws.send(roomId, `m${i}`);
    for (let i = 0; i < 3; i += 1) await poller.send(roomId, `p${i}`);
    await waitFor(() => got.length === 13, { label: 'polling deliveries' });
    expect(got.map((m) => m.seq)).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(poller.socket.io.engine.transport.name).toBe('polling');
    expect(poller.connected).toBe(true);
  });

  it('recovers every message missed during a 5 s cut, in order, exactly once', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'resume' });
    const cutter = await startCutter(new URL(gateway.url).port);
    try {
      const reader = sdk({ sub: 'reader', sourceAccountId: account }, {}, `http://127.0.0.1:${cutter.port}`);
      await reader.connect();
      const sender = await connectOn((ids().indexOf(reader.instanceId!) + 1) % 3, { sub: 'sender', sourceAccountId: account });
      await reader.join(roomId);
      await sender.join(roomId);
      const received = collect(reader, 'message:new');
      const disconnects = collect(reader, 'disconnect');
      const resumed = collect(reader, 'resumed');
      await sender.send(roomId, 'before the cut');
      await waitFor(() => received.length === 1);

      cutter.cut();
      await waitFor(() => disconnects.length === 1, { label: 'reader notices the cut' });
      const cutAt = Date.now();
      // Paced under the default per-socket limit (20 messages/s): 50 messages take about 3.3 s of the cut.
      for (let i = 1; i <= 50; i += 1) {
        await sender.send(roomId, `missed ${i}`);
        await pause(65);
      }
      await pause(Math.max(0, 5000 - (Date.now() - cutAt)));
      expect(received).toHaveLength(1);
      cutter.restore();

      await waitFor(() => resumed.length === 1 && received.length === 51, { timeoutMs: 15_000, label: 'resume' });
      await sender.send(roomId, 'after the cut');
      await waitFor(() => received.length === 52, { label: 'live again' });
      await pause(300);
      expect(received.map((m) => m.content)).toEqual([
        'before the cut',
        ...Array.from({ length: 50 }, (_, i) => `missed ${i + 1}`),
        'after the cut',
      ]);
      expect(received.map((m) => m.seq)).toEqual(Array.from({ length: 52 }, (_, i) => i + 1));
    } finally {
      cutter.close();
    }
  });

  it('moves the clients of a killed replica to the others, re-joins their rooms, and converges presence within 2 s', async () => {
    const account = uniqueName('acct');
    const roomId = await createRoom(account, { name: 'survivors' });
    const victim = 1;
    const observer = await connectOn(0, { sub: 'observer', sourceAccountId: account });
    const movers = [
      await connectOn(victim, { sub: 'mover-1', sourceAccountId: account }),
      await connectOn(victim, { sub: 'mover-2', sourceAccountId: account }),
      await connectOn(2, { sub: 'mover-3', sourceAccountId: account }),
    ];
    // A device that vanishes with the replica (no reconnection): it must go offline.
    const gone = await connectOn(victim, { sub: 'gone', sourceAccountId: account }, { socketOptions: { reconnection: false } });
    const users = ['mover-1', 'mover-2', 'mover-3', 'gone'];
    await observer.join(roomId);
    for (const c of [...movers, gone]) await c.join(roomId);
    await observer.subscribePresence(users);
    const resumed = movers.map((m) => collect(m, 'resumed'));

    const killed = replicas[victim]!;
    await killed.kill('SIGKILL');
    const killedAt = Date.now();
    const converged = await waitFor(
      async () => {
        const presence = await observer.getPresence(users);
        const byUser = Object.fromEntries(presence.map((p) => [p.userId, p]));
        const ok =
          users.slice(0, 3).every((u) => byUser[u]!.status === 'online' && byUser[u]!.connections === 1) &&
          byUser.gone!.status === 'offline' &&
          byUser.gone!.connections === 0 &&
          resumed.slice(0, 2).every((r) => r.length === 1);
        return ok ? Date.now() - killedAt : null;
      },
      { timeoutMs: 10_000, intervalMs: 50, label: 'presence convergence' },
    );
    console.log(`presence converged ${converged} ms after the replica was killed`);
    expect(converged).toBeLessThanOrEqual(2000);
    for (const mover of movers.slice(0, 2)) {
      expect(mover.connected).toBe(true);
      expect([ids()[0], ids()[2]]).toContain(mover.instanceId);
    }
    // Their rooms were re-joined: a new message reaches them.
    const got = movers.map((m) => collect(m, 'message:new'));
    await observer.send(roomId, 'still there?');
    await waitFor(() => got.every((g) => g.length === 1), { label: 'delivery after failover' });
    const status = await api('get', '/v1/status', adminHeaders(account));
    expect((status.body.cluster as { instances: { instanceId: string }[] }).instances.map((i) => i.instanceId).sort()).toEqual(
      [ids()[0], ids()[2]].sort(),
    );
  });
});

/** A TCP relay in front of the gateway that can cut every connection and refuse new ones. */
async function startCutter(targetPort: string): Promise<{ port: number; cut(): void; restore(): void; close(): void }> {
  let blocked = false;
  const pairs = new Set<net.Socket>();
  const server = net.createServer((client) => {
    if (blocked) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    pairs.add(client);
    pairs.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(client);
      pairs.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      blocked = true;
      for (const socket of pairs) socket.destroy();
    },
    restore() {
      blocked = false;
    },
    close() {
      for (const socket of pairs) socket.destroy();
      server.close();
    },
  };
}
