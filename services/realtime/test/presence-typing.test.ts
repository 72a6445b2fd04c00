import request from 'supertest';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RealtimeClient } from '@nself/realtime-client';
import { testInfra } from '@nself/test-support';
import { bearerFor, collect, connect, startInProcess, uniqueName, waitFor, type InProcessRealtime } from './helpers.js';

let rt: InProcessRealtime;
let db: pg.Client;
const clients: RealtimeClient[] = [];

beforeAll(async () => {
  rt = await startInProcess({
    REALTIME_ALLOW_ANONYMOUS: 'true',
    REALTIME_AWAY_AFTER_MS: '1500',
    REALTIME_CLEANUP_INTERVAL_MS: '1000',
    REALTIME_STALE_CONNECTION_SECONDS: '60',
    REALTIME_LOG_EVENTS: '*',
  });
  db = new pg.Client({ connectionString: testInfra().databaseUrl });
  await db.connect();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await rt?.stop();
  await db?.end();
});

async function client(sub: string, account: string): Promise<RealtimeClient> {
  const c = await connect(rt.url, { sub, sourceAccountId: account });
  clients.push(c);
  return c;
}

async function room(account: string, body: Record<string, unknown>, owner = 'owner'): Promise<{ id: string }> {
  const res = await request(rt.service.app).post('/v1/rooms').set(bearerFor({ sub: owner, sourceAccountId: account })).send(body);
  expect(res.status).toBe(201);
  return res.body.room;
}

describe('typing', () => {
  it('announces a start once, expires after 3 s server-side and emits the expiry', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'typing' });
    const writer = await client('writer', account);
    const reader = await client('reader', account);
    await writer.join(r.id);
    await reader.join(r.id);
    const seen = collect(reader, 'typing:event');
    const own = collect(writer, 'typing:event');

    const started = Date.now();
    const { expiresAt } = await writer.startTyping(r.id, 'thread-1');
    await writer.startTyping(r.id, 'thread-1'); // a refresh is not announced again
    await waitFor(() => seen.length === 1, { label: 'typing start' });
    expect(seen[0]).toMatchObject({ roomId: r.id, threadId: 'thread-1', userId: 'writer', isTyping: true, reason: 'started' });

    const late = await client('late', account);
    const batches = collect(late, 'typing:batch');
    const joined = await late.join(r.id);
    expect(joined.typing).toEqual([{ userId: 'writer', threadId: 'thread-1', expiresAt: expect.any(String) }]);
    await waitFor(() => batches.length === 1);

    await waitFor(() => seen.length === 2, { timeoutMs: 10_000, label: 'typing expiry' });
    const elapsed = Date.now() - started;
    expect(seen[1]).toMatchObject({ userId: 'writer', threadId: 'thread-1', isTyping: false, reason: 'expired' });
    // Not before the server-side timeout (measured from the last refresh).
    expect(elapsed).toBeGreaterThanOrEqual(2900);
    expect(Date.parse(expiresAt) - started).toBeGreaterThanOrEqual(2900);
    // The writer's own sockets hear the expiry (other tabs may show it) but not the start.
    expect(own.map((e) => e.reason)).toEqual(['expired']);
  });

  it('stops on typing:stop, on sending, and on disconnect', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'stops' });
    const writer = await client('w', account);
    const reader = await client('r', account);
    await writer.join(r.id);
    await reader.join(r.id);
    const seen = collect(reader, 'typing:event');

    await writer.startTyping(r.id);
    await writer.stopTyping(r.id);
    await writer.startTyping(r.id);
    await writer.send(r.id, 'done typing');
    await writer.startTyping(r.id);
    writer.disconnect();
    await waitFor(() => seen.length === 6, { label: 'six typing events' });
    expect(seen.map((e) => [e.isTyping, e.reason])).toEqual([
      [true, 'started'],
      [false, 'stopped'],
      [true, 'started'],
      [false, 'stopped'],
      [true, 'started'],
      [false, 'disconnected'],
    ]);
  });
});

describe('presence', () => {
  it('stays online until the last device disconnects, and tells roommates', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'friends', visibility: 'private', members: ['hana', 'obs'] });
    const observer = await client('obs', account);
    await observer.join(r.id);
    const changes = collect(observer, 'presence:changed');

    const phone = await client('hana', account);
    await waitFor(() => changes.some((p) => p.userId === 'hana' && p.status === 'online'), { label: 'online' });
    const laptop = await client('hana', account);
    await waitFor(async () => (await observer.getPresence(['hana']))[0]!.connections === 2);
    phone.disconnect();
    await waitFor(async () => (await observer.getPresence(['hana']))[0]!.connections === 1);
    expect((await observer.getPresence(['hana']))[0]!.status).toBe('online');
    // One device left: still not offline (automatic away may show up with the 1.5 s away timeout here).
    expect(changes.some((p) => p.userId === 'hana' && p.status === 'offline')).toBe(false);
    laptop.disconnect();
    await waitFor(() => changes.some((p) => p.userId === 'hana' && p.status === 'offline'), { label: 'offline' });
    expect((await observer.getPresence(['hana']))[0]).toMatchObject({ status: 'offline', connections: 0 });
  });

  it('sends custom status to roommates and subscribers only, not to everyone', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'status-room' });
    const ivy = await client('ivy', account);
    const mate = await client('mate', account);
    const follower = await client('follower', account);
    const stranger = await client('stranger', account);
    await ivy.join(r.id);
    await mate.join(r.id);
    const bulk = collect(follower, 'presence:bulk');
    const snapshot = await follower.subscribePresence(['ivy']);
    expect(snapshot).toEqual([expect.objectContaining({ userId: 'ivy', status: 'online', connections: 1 })]);
    await waitFor(() => bulk.length === 1);
    const seen = { mate: collect(mate, 'presence:changed'), follower: collect(follower, 'presence:changed'), stranger: collect(stranger, 'presence:changed') };

    const mine = await ivy.setPresence({ status: 'busy', statusText: 'In a meeting', statusEmoji: '📅' });
    expect(mine).toMatchObject({ userId: 'ivy', status: 'busy', statusText: 'In a meeting', statusEmoji: '📅', connections: 1 });
    // (This service runs with a 1.5 s away timeout, so automatic away events may interleave: match the ones we cause.)
    const busy = (p: { userId: string; status: string; statusText: string | null }) =>
      p.userId === 'ivy' && p.status === 'busy' && p.statusText === 'In a meeting';
    await waitFor(() => seen.mate.some(busy) && seen.follower.some(busy), { label: 'presence fan-out' });
    await expect(ivy.setPresence({ status: 'offline' as never })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });

    await follower.unsubscribePresence(['ivy']);
    await ivy.setPresence({ statusText: null });
    const cleared = (p: { userId: string; statusText: string | null; statusEmoji: string | null }) =>
      p.userId === 'ivy' && p.statusText === null && p.statusEmoji === '📅';
    await waitFor(() => seen.mate.some(cleared), { label: 'text cleared' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seen.follower.filter(cleared)).toEqual([]);
    expect(seen.stranger).toEqual([]);
    expect(seen.mate.find(cleared)).toMatchObject({ status: 'busy', statusText: null, statusEmoji: '📅' });

    const rest = await request(rt.service.app).get('/v1/presence/ivy').set(bearerFor({ sub: 'stranger', sourceAccountId: account }));
    expect(rest.body).toMatchObject({ status: 'busy', statusEmoji: '📅' });
  });

  it('goes away after inactivity (automatic status only) and comes back on activity', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'idle' });
    const idle = await client('idle', account);
    const manual = await client('manual', account);
    const watcher = await client('watcher', account);
    await idle.join(r.id);
    await manual.join(r.id);
    await watcher.join(r.id);
    await manual.setPresence({ status: 'busy' });
    const changes = collect(watcher, 'presence:changed');
    await waitFor(() => changes.some((p) => p.userId === 'idle' && p.status === 'away'), { timeoutMs: 15_000, label: 'away' });
    await idle.startTyping(r.id);
    await waitFor(() => changes.some((p) => p.userId === 'idle' && p.status === 'online'), { label: 'back online' });
    expect((await watcher.getPresence(['manual']))[0]!.status).toBe('busy');
    // A status the user chose is never replaced by the automatic away.
    expect(changes.filter((p) => p.userId === 'manual' && p.status !== 'busy')).toEqual([]);
  });
});

describe('anonymous access (REALTIME_ALLOW_ANONYMOUS=true)', () => {
  it('lets anonymous sockets read public rooms, nothing else', async () => {
    const account = 'primary';
    const name = uniqueName('public');
    const pub = await room(account, { name });
    const priv = await room(account, { name: uniqueName('private'), visibility: 'private' });
    const anon = await connect(rt.url, { anonymous: true });
    clients.push(anon);
    await waitFor(() => anon.user !== null);
    expect(anon.user).toMatchObject({ anonymous: true, userId: null, sourceAccountId: 'primary' });
    const seen = collect(anon, 'message:new');
    await anon.join(pub.id);
    await expect(anon.join(priv.id)).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    await expect(anon.send(pub.id, 'hi')).rejects.toMatchObject({ code: 'ANONYMOUS_READ_ONLY' });
    await expect(anon.startTyping(pub.id)).rejects.toMatchObject({ code: 'ANONYMOUS_READ_ONLY' });
    await expect(anon.setPresence({ status: 'busy' })).rejects.toMatchObject({ code: 'ANONYMOUS_READ_ONLY' });
    const speaker = await client('speaker', account);
    await speaker.join(pub.id);
    await speaker.send(pub.id, 'hello readers');
    await waitFor(() => seen.length === 1);
  });
});

describe('database mirror and cleanup functions', () => {
  it('writes connections, presence, typing, room sequence and the event log in batches', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'mirror' });
    const c = await client('mirrored', account);
    await c.join(r.id);
    await c.send(r.id, 'one');
    await c.send(r.id, 'two');
    await c.startTyping(r.id, 'thr');

    const q = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows;
    // One flush writes typing, then room sequences, then events: wait for the typing row and the events.
    await waitFor(async () => (await q('SELECT 1 FROM current_typing WHERE source_account_id = $1 AND thread_id = $2', [account, 'thr'])).length === 1, {
      label: 'typing row',
    });
    await waitFor(async () => (await q("SELECT 1 FROM realtime_events WHERE source_account_id = $1 AND event_type = 'message:send'", [account])).length === 2, {
      label: 'message events',
    });
    const [conn] = await q('SELECT user_id, instance_id, transport FROM active_connections WHERE source_account_id = $1', [account]);
    expect(conn).toEqual({ user_id: 'mirrored', instance_id: rt.service.config.instanceId, transport: 'websocket' });
    const [stats] = await q('SELECT message_count, member_count, online_count, typing_count FROM room_stats WHERE room_id = $1', [r.id]);
    expect(stats).toMatchObject({ message_count: '2', member_count: '2', online_count: '1', typing_count: '1' });
    const [summary] = await q('SELECT online, connections FROM presence_summary WHERE source_account_id = $1', [account]);
    expect(summary).toMatchObject({ online: '1', connections: '1' });
    const types = (await q('SELECT event_type FROM realtime_events WHERE source_account_id = $1', [account])).map((row) => row.event_type);
    expect(types).toEqual(expect.arrayContaining(['room:create', 'connect', 'room:join', 'message:send']));
    const sends = await q(
      `SELECT socket_id, user_id, room_id::text AS room_id, instance_id, payload FROM realtime_events
        WHERE source_account_id = $1 AND event_type = 'message:send' ORDER BY id`,
      [account],
    );
    const sendRow = (seq: number) => ({
      socket_id: c.socket.id,
      user_id: 'mirrored',
      room_id: r.id,
      instance_id: rt.service.config.instanceId,
      payload: { messageId: expect.any(String), seq, type: 'text', bytes: 3 },
    });
    expect(sends).toEqual([sendRow(1), sendRow(2)]);

    c.disconnect();
    await waitFor(
      async () => (await q("SELECT 1 FROM realtime_connections WHERE source_account_id = $1 AND status = 'disconnected'", [account])).length === 1,
      { label: 'disconnect mirrored' },
    );
    await waitFor(async () => (await q("SELECT status FROM realtime_presence WHERE source_account_id = $1", [account]))[0]?.status === 'offline');
  });

  it('runs the cleanup functions periodically (one replica at a time)', async () => {
    const account = uniqueName('acct');
    await db.query(
      `INSERT INTO realtime_connections (id, source_account_id, socket_id, user_id, instance_id, status, last_seen_at)
       VALUES (gen_random_uuid(), $1, $2, 'ghost', 'dead-instance', 'connected', now() - interval '10 minutes')`,
      [account, uniqueName('sock')],
    );
    await db.query(
      `INSERT INTO realtime_events (source_account_id, event_type, created_at) VALUES ($1, 'ancient', now() - interval '400 days')`,
      [account],
    );
    await waitFor(
      async () => {
        const stale = await db.query(
          "SELECT status, disconnect_reason FROM realtime_connections WHERE source_account_id = $1 AND user_id = 'ghost'",
          [account],
        );
        const old = await db.query("SELECT 1 FROM realtime_events WHERE source_account_id = $1 AND event_type = 'ancient'", [account]);
        return stale.rows[0]?.disconnect_reason === 'stale' && old.rowCount === 0;
      },
      { timeoutMs: 15_000, label: 'cleanup functions' },
    );
  });
});
