import request from 'supertest';
import { Redis } from 'ioredis';
import { io as ioClient } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventBus } from '@nself/events';
import { createMemoryLogger } from '@nself/logging';
import type { RealtimeClient } from '@nself/realtime-client';
import { signTestToken, testInfra } from '@nself/test-support';
import { adminHeaders, bearerFor, collect, connect, startInProcess, uniqueName, waitFor, type InProcessRealtime } from './helpers.js';

let rt: InProcessRealtime;
const clients: RealtimeClient[] = [];

beforeAll(async () => {
  rt = await startInProcess({ REALTIME_MESSAGE_RATE: '5', REALTIME_MESSAGE_BURST: '5', REALTIME_MAX_MESSAGE_BYTES: '4096' });
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await rt?.stop();
});

async function client(sub: string, account: string, roles?: string[]): Promise<RealtimeClient> {
  const c = await connect(rt.url, { sub, sourceAccountId: account, roles });
  clients.push(c);
  return c;
}

async function room(account: string, body: Record<string, unknown>, owner = 'owner'): Promise<{ id: string; name: string }> {
  const res = await request(rt.service.app).post('/v1/rooms').set(bearerFor({ sub: owner, sourceAccountId: account })).send(body);
  expect(res.status).toBe(201);
  return res.body.room;
}

/** Connects with a raw socket.io-client and returns the connect_error it gets. */
function refusal(auth: Record<string, unknown>): Promise<{ message: string; data?: { code: string } }> {
  return new Promise((resolve) => {
    const socket = ioClient(rt.url, { path: '/socket.io', transports: ['websocket'], auth, reconnection: false });
    socket.on('connect', () => {
      socket.disconnect();
      resolve({ message: 'connected' });
    });
    socket.on('connect_error', (error) => {
      socket.disconnect();
      resolve(error as never);
    });
  });
}

describe('handshake', () => {
  it('refuses missing, forged and expired tokens with a clear code, and accepts a valid one', async () => {
    expect((await refusal({})).data?.code).toBe('UNAUTHORIZED');
    expect((await refusal({ token: signTestToken({ secret: 'f'.repeat(40) }) })).data?.code).toBe('INVALID_TOKEN');
    expect((await refusal({ token: 'not-a-jwt' })).data?.code).toBe('INVALID_TOKEN');
    expect((await refusal({ token: signTestToken({ expiresInSeconds: -60 }) })).data?.code).toBe('TOKEN_EXPIRED');
    expect((await refusal({ token: signTestToken({ sub: 'ok' }) })).message).toBe('connected');
  });

  it('greets with connected and authenticated (Hasura claims work as they are)', async () => {
    const account = uniqueName('acct');
    const c = await connect(rt.url, { sub: 'hasura-user', sourceAccountId: account, hasura: true });
    clients.push(c);
    expect(c.instanceId).toBe(rt.service.config.instanceId);
    await waitFor(() => c.user !== null);
    expect(c.user).toMatchObject({ userId: 'hasura-user', sourceAccountId: account, anonymous: false });
  });

  it('disconnects a socket whose token expires and was not refreshed', async () => {
    const c = await connect(rt.url, { sub: 'short', expiresInSeconds: 2, client: { socketOptions: { reconnection: false } } });
    clients.push(c);
    const errors = collect(c, 'error');
    const gone = collect(c, 'disconnect');
    await waitFor(() => gone.length === 1, { timeoutMs: 10_000, label: 'expiry disconnect' });
    expect(errors[0]).toMatchObject({ code: 'TOKEN_EXPIRED' });
  });

  it('auth:refresh takes a new token for the same user only', async () => {
    const account = uniqueName('acct');
    const c = await client('refresher', account);
    const refreshed = await c.refreshToken(signTestToken({ sub: 'refresher', sourceAccountId: account, expiresInSeconds: 3600 }));
    expect(Date.parse(refreshed.expiresAt!)).toBeGreaterThan(Date.now() + 3500_000);
    await expect(c.refreshToken(signTestToken({ sub: 'someone-else', sourceAccountId: account }))).rejects.toMatchObject({
      code: 'IDENTITY_MISMATCH',
    });
    await expect(c.refreshToken(signTestToken({ sub: 'refresher', secret: 'x'.repeat(40) }))).rejects.toMatchObject({
      code: 'INVALID_TOKEN',
    });
  });
});

describe('rooms over the socket', () => {
  it('joins public rooms freely, private rooms only as a member; sends only to joined rooms', async () => {
    const account = uniqueName('acct');
    const lobby = await room(account, { name: 'lobby' });
    const vault = await room(account, { name: 'vault', visibility: 'private', members: ['member'] });
    const outsider = await client('outsider', account);
    const member = await client('member', account);

    const joined = await outsider.join('lobby');
    expect(joined).toMatchObject({ room: { id: lobby.id, name: 'lobby' }, role: 'member', lastSeq: 0, events: [], truncated: false });
    await expect(outsider.join(vault.id)).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
    await expect(outsider.send(vault.id, 'let me in')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    await expect(outsider.history(vault.id, 0)).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });

    const received = collect(outsider, 'message:new');
    await member.join(vault.id);
    await member.send(vault.id, 'private words');
    await member.join(lobby.id);
    await member.send(lobby.id, 'public words');
    await waitFor(() => received.length === 1, { label: 'lobby message' });
    expect(received.map((m) => m.content)).toEqual(['public words']);
    await expect(outsider.join('no-such-room')).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
  });

  it('announces user:joined/user:left once per user (not per device) and returns who is online', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'hall' });
    const watcher = await client('watcher', account);
    await watcher.join(r.id);
    const joins = collect(watcher, 'user:joined');
    const leaves = collect(watcher, 'user:left');
    const phone = await client('gina', account);
    const laptop = await client('gina', account);
    await phone.join(r.id);
    const second = await laptop.join(r.id);
    expect(second.online.sort()).toEqual(['gina', 'watcher']);
    await waitFor(() => joins.length === 1);
    phone.disconnect();
    await laptop.leave(r.id);
    await waitFor(() => leaves.length === 1, { label: 'user:left' });
    expect(joins).toEqual([{ roomId: r.id, userId: 'gina', reason: 'joined' }]);
    expect(leaves[0]).toMatchObject({ roomId: r.id, userId: 'gina' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(joins.length + leaves.length).toBe(2);
  });

  it('numbers messages per room with a server id and timestamp; keeps history; edits and deletes go through the same log', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'log' }, 'mod');
    const mod = await client('mod', account);
    const ann = await client('ann', account);
    const ben = await client('ben', account);
    await mod.join(r.id);
    await ann.join(r.id);
    await ben.join(r.id);
    const benSees = { new: collect(ben, 'message:new'), update: collect(ben, 'message:update'), del: collect(ben, 'message:delete') };

    const first = await ann.send(r.id, 'hello', { clientMessageId: 'c-1', data: { mentions: ['ben'] } });
    expect(first).toMatchObject({ roomId: r.id, seq: 1, senderId: 'ann', type: 'text', content: 'hello', clientMessageId: 'c-1' });
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    expect(Math.abs(Date.parse(first.createdAt) - Date.now())).toBeLessThan(60_000);
    const second = await ben.send(r.id, 'hi ann', { threadId: first.id });
    expect(second.seq).toBe(2);

    await expect(ben.updateMessage(r.id, first.id, { content: 'forged' })).rejects.toMatchObject({ code: 'FORBIDDEN' });
    const edited = await ann.updateMessage(r.id, first.id, { content: 'hello (edited)' });
    expect(edited).toMatchObject({ id: first.id, seq: 3, content: 'hello (edited)', editedBy: 'ann' });
    const removed = await mod.deleteMessage(r.id, second.id);
    expect(removed).toMatchObject({ id: second.id, seq: 4, deletedBy: 'mod' });
    await expect(ann.deleteMessage(r.id, 'no-such-message')).rejects.toMatchObject({ code: 'MESSAGE_NOT_FOUND' });

    await waitFor(() => benSees.new.length === 2 && benSees.update.length === 1 && benSees.del.length === 1, { label: 'log events' });

    const late = await client('late', account);
    const history = await late.join(r.id, { history: 3 });
    expect(history.lastSeq).toBe(4);
    expect(history.events.map((e) => [e.event, e.payload.seq])).toEqual([
      ['message:new', 2],
      ['message:update', 3],
      ['message:delete', 4],
    ]);
    const all = await late.history(r.id, 0);
    expect(all.events.map((e) => e.payload.seq)).toEqual([1, 2, 3, 4]);
    expect(all.truncated).toBe(false);
  });

  it("gives the author's socket its entries in the ack only; its other devices and other members get the event once", async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'echo' }, 'amy');
    const phone = await client('amy', account);
    const laptop = await client('amy', account);
    const bob = await client('bob', account);
    for (const c of [phone, laptop, bob]) await c.join(r.id);
    const onWire = { new: 0, update: 0, del: 0 };
    phone.socket.on('message:new', () => (onWire.new += 1));
    phone.socket.on('message:update', () => (onWire.update += 1));
    phone.socket.on('message:delete', () => (onWire.del += 1));
    const phoneSees = collect(phone, 'message:new');
    const laptopSees = { new: collect(laptop, 'message:new'), del: collect(laptop, 'message:delete') };
    const bobSees = { new: collect(bob, 'message:new'), update: collect(bob, 'message:update') };

    const sent = await phone.send(r.id, 'from my phone');
    await phone.updateMessage(r.id, sent.id, { content: 'edited on my phone' });
    await phone.deleteMessage(r.id, sent.id);
    await waitFor(() => bobSees.update.length === 1 && laptopSees.del.length === 1, { label: 'entries reach the others' });
    // A message from someone else still reaches the phone as an event.
    await bob.send(r.id, 'hi amy');
    await waitFor(() => phoneSees.length === 2, { label: "bob's message on the phone" });

    expect(onWire).toEqual({ new: 1, update: 0, del: 0 });
    expect(phoneSees.map((m) => [m.seq, m.content])).toEqual([
      [1, 'from my phone'],
      [4, 'hi amy'],
    ]);
    expect(laptopSees.new.map((m) => m.id)).toEqual([sent.id, phoneSees[1]!.id]);
    // Bob's own message reaches his listeners from the ack.
    expect(bobSees.new.map((m) => m.id)).toEqual([sent.id, phoneSees[1]!.id]);
  });

  it('has the append script publish each entry to the other replicas, with its sequence number written in', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'published' }, 'amy');
    const amy = await client('amy', account);
    await amy.join(r.id);
    const monitor = await new Redis(testInfra().redisUrl).monitor();
    const publishes: { source: string; message: Buffer }[] = [];
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (args[0]?.toLowerCase() === 'publish' && args[1]?.includes(r.id)) publishes.push({ source, message: Buffer.from(args[2]!, 'latin1') });
    });
    try {
      const first = await amy.send(r.id, 'one');
      const second = await amy.send(r.id, 'two', { data: { seq: 0.5 } });
      await waitFor(() => publishes.length >= 2, { label: 'two publications' });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(publishes.map((p) => p.source)).toEqual(['lua', 'lua']);
      expect(publishes[0]!.message.includes(Buffer.from('one'))).toBe(true);
      expect(second.seq).toBe(first.seq + 1);
    } finally {
      monitor.disconnect();
    }
  });

  it('answers bad payloads with error acks, not crashes: validation, size limit, rate limit', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'limits' });
    const c = await client('loud', account);
    await c.join(r.id);

    const raw = c.socket as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<unknown> } };
    const invalid = (await raw.timeout(5000).emitWithAck('message:send', { roomId: r.id, content: 42 })) as {
      ok: boolean;
      error: { code: string; details: { field: string }[] };
    };
    expect(invalid.ok).toBe(false);
    expect(invalid.error.code).toBe('VALIDATION_FAILED');
    expect(invalid.error.details.map((d) => d.field)).toEqual(['content']);
    const nothing = (await raw.timeout(5000).emitWithAck('room:join', null)) as { ok: boolean; error: { code: string } };
    expect(nothing.error.code).toBe('VALIDATION_FAILED');

    await expect(c.send(r.id, 'x'.repeat(5000))).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    await expect(c.send(r.id, 'ok', { data: { blob: 'y'.repeat(5000) } })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    expect(c.connected).toBe(true);

    // Without an ack callback the error comes back as an `error` event.
    const errors = collect(c, 'error');
    (c.socket as unknown as { emit(event: string, payload: unknown): void }).emit('message:send', { roomId: r.id });
    await waitFor(() => errors.length === 1);
    expect(errors[0]).toMatchObject({ code: 'VALIDATION_FAILED', event: 'message:send' });

    // Burst 5 at 5/s: a tight loop of 12 sends must hit the limit.
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => c.send(r.id, `m${i}`)));
    const limited = results.filter((x) => x.status === 'rejected');
    expect(limited.length).toBeGreaterThan(0);
    const error = (limited[0] as PromiseRejectedResult).reason as { code: string; retryAfterMs: number };
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryAfterMs).toBeGreaterThan(0);
    expect(c.connected).toBe(true);
  });

  it('enforces bans and mutes on live sockets', async () => {
    const account = uniqueName('acct');
    const r = await room(account, { name: 'moderated' }, 'boss');
    const boss = bearerFor({ sub: 'boss', sourceAccountId: account });
    const troll = await client('troll', account);
    const quiet = await client('quiet', account);
    await troll.join(r.id);
    await quiet.join(r.id);
    const left = collect(troll, 'room:left');

    const muted = await request(rt.service.app).patch(`/v1/rooms/${r.id}/members/quiet`).set(boss).send({ muteSeconds: 60 });
    expect(muted.status).toBe(200);
    expect(Date.parse(muted.body.mutedUntil)).toBeGreaterThan(Date.now());
    await expect(quiet.send(r.id, 'can I talk?')).rejects.toMatchObject({ code: 'MUTED' });
    await request(rt.service.app).patch(`/v1/rooms/${r.id}/members/quiet`).set(boss).send({ muteSeconds: 0 });
    await expect(quiet.send(r.id, 'thanks')).resolves.toMatchObject({ content: 'thanks' });

    const banned = await request(rt.service.app).patch(`/v1/rooms/${r.id}/members/troll`).set(boss).send({ banned: true, banReason: 'spam' });
    expect(banned.status).toBe(200);
    expect(banned.body).toMatchObject({ banned: true, banReason: 'spam' });
    await waitFor(() => left.length === 1, { label: 'room:left banned' });
    expect(left[0]).toEqual({ roomId: r.id, reason: 'banned' });
    await expect(troll.send(r.id, 'still here')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
    await expect(troll.join(r.id)).rejects.toMatchObject({ code: 'BANNED' });
    // A ban also holds for someone who was never a member, and moderators cannot be overruled by members.
    await request(rt.service.app).patch(`/v1/rooms/${r.id}/members/stranger`).set(boss).send({ banned: true });
    const stranger = await client('stranger', account);
    await expect(stranger.join(r.id)).rejects.toMatchObject({ code: 'BANNED' });
    expect((await request(rt.service.app).patch(`/v1/rooms/${r.id}/members/troll`).set(bearerFor({ sub: 'quiet', sourceAccountId: account })).send({ banned: false })).status).toBe(403);
  });

  it('keeps apps apart: the same room name and user ids in another app see nothing', async () => {
    const appA = uniqueName('acct');
    const appB = uniqueName('acct');
    const roomA = await room(appA, { name: 'shared-name' });
    const roomB = await room(appB, { name: 'shared-name' });
    const a1 = await client('u1', appA);
    const b1 = await client('u1', appB);
    const b2 = await client('u2', appB);
    await a1.join('shared-name');
    await b1.join('shared-name');
    await b2.subscribePresence(['u1']);
    const seenByB = { messages: collect(b1, 'message:new'), presence: collect(b2, 'presence:changed'), typing: collect(b1, 'typing:event') };
    await expect(b1.join(roomA.id)).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
    await a1.send(roomA.id, 'app A only');
    await a1.startTyping(roomA.id);
    await a1.setPresence({ status: 'busy', statusText: 'in app A' });
    const [bView] = await b2.getPresence(['u1']);
    expect(bView).toMatchObject({ status: 'online', statusText: null });
    await b1.send(roomB.id, 'app B');
    await waitFor(() => seenByB.messages.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(seenByB.messages.map((m) => m.content)).toEqual(['app B']);
    expect(seenByB.presence).toEqual([]);
    expect(seenByB.typing).toEqual([]);
  });

  it('relays domain events from the event bus to the user they concern, in that app only', async () => {
    const infra = testInfra();
    const account = uniqueName('acct');
    const uploader = await client('uploader', account);
    const sameIdOtherApp = await client('uploader', uniqueName('acct'));
    const bystander = await client('bystander', account);
    const got = collect(uploader, 'domain:event');
    const otherApp = collect(sameIdOtherApp, 'domain:event');
    const otherUser = collect(bystander, 'domain:event');
    const bus = new EventBus({ url: infra.amqpUrl, logger: createMemoryLogger().logger, service: 'files', exchange: rt.env.EVENTS_EXCHANGE });
    await bus.start();
    try {
      const event = await bus.publish(
        'file.processed',
        { fileId: 'f-1', jobId: 'j-1', thumbnails: 3, mimeType: 'image/png' },
        { sourceAccountId: account, userId: 'uploader' },
      );
      await waitFor(() => got.length === 1, { timeoutMs: 10_000, label: 'relayed event' });
      expect(got[0]).toEqual({
        id: event.id,
        type: 'file.processed',
        source: 'files',
        occurredAt: event.occurredAt,
        data: { fileId: 'f-1', jobId: 'j-1', thumbnails: 3, mimeType: 'image/png' },
      });
    } finally {
      await bus.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(otherApp).toEqual([]);
    expect(otherUser).toEqual([]);
  });

  it('answers ping with pong and records the latency the client reports', async () => {
    const account = uniqueName('acct');
    const c = await client('pinger', account);
    const pongs = collect(c, 'pong');
    const rtt = await c.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
    await c.ping();
    await waitFor(() => pongs.length === 2);
    expect(typeof pongs[0]!.ts).toBe('number');
    const socket = rt.service.sockets.localSockets().find((s) => s.data.principal.userId === 'pinger');
    expect(socket?.data.latencyMs).toBe(rtt);
  });

  it('lets admins force a disconnect only for existing sockets of their app', async () => {
    const res = await request(rt.service.app).delete('/v1/connections/does-not-exist').set(adminHeaders(uniqueName('acct')));
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('CONNECTION_NOT_FOUND');
  });
});
