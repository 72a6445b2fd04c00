import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeServiceContract } from '@nself/test-support';
import type { RealtimeClient } from '@nself/realtime-client';
import { adminHeaders, bearerFor, collect, connect, startInProcess, uniqueName, waitFor, type InProcessRealtime } from './helpers.js';

let rt: InProcessRealtime;
const clients: RealtimeClient[] = [];

beforeAll(async () => {
  // Fast Engine.IO pings and connection touches, so latency tracking shows within the test.
  rt = await startInProcess({ REALTIME_PING_INTERVAL: '1000', REALTIME_CONNECTION_TOUCH_MS: '1000' });
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await rt?.stop();
});

async function client(sub: string, account: string): Promise<RealtimeClient> {
  const c = await connect(rt.url, { sub, sourceAccountId: account });
  clients.push(c);
  return c;
}

describeServiceContract('realtime', () => ({ app: rt.service.app, protectedRoute: { method: 'get', path: '/v1/rooms' } }));

describe('rooms REST API', () => {
  it('creates rooms with the caller as owner, refuses duplicate names and invalid input', async () => {
    const account = uniqueName('acct');
    const alice = bearerFor({ sub: 'alice', sourceAccountId: account });
    const created = await request(rt.service.app)
      .post('/v1/rooms')
      .set(alice)
      .send({ name: 'general', description: 'All hands', members: ['bob'] });
    expect(created.status).toBe(201);
    expect(created.body.room).toMatchObject({ name: 'general', type: 'channel', visibility: 'public', ownerId: 'alice' });
    expect(created.body.members.map((m: { userId: string; role: string }) => [m.userId, m.role]).sort()).toEqual([
      ['alice', 'owner'],
      ['bob', 'member'],
    ]);

    const duplicate = await request(rt.service.app).post('/v1/rooms').set(alice).send({ name: 'general' });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe('ROOM_EXISTS');

    const invalid = await request(rt.service.app).post('/v1/rooms').set(alice).send({ name: '', visibility: 'secret' });
    expect(invalid.status).toBe(400);
    expect(invalid.headers['content-type']).toMatch(/problem\+json/);
    expect([...new Set(invalid.body.errors.map((e: { field: string }) => e.field))].sort()).toEqual(['name', 'visibility']);

    // The same name in another app is a different room.
    const other = await request(rt.service.app)
      .post('/v1/rooms')
      .set(bearerFor({ sub: 'alice', sourceAccountId: uniqueName('acct') }))
      .send({ name: 'general' });
    expect(other.status).toBe(201);
    expect(other.body.room.id).not.toBe(created.body.room.id);
  });

  it('lists public rooms and only the private rooms the caller belongs to; never another app’s', async () => {
    const account = uniqueName('acct');
    const owner = bearerFor({ sub: 'owner', sourceAccountId: account });
    await request(rt.service.app).post('/v1/rooms').set(owner).send({ name: 'lobby' });
    await request(rt.service.app).post('/v1/rooms').set(owner).send({ name: 'secret', visibility: 'private', members: ['carol'] });

    const names = async (headers: Record<string, string>, query = '') =>
      (await request(rt.service.app).get(`/v1/rooms${query}`).set(headers)).body.rooms.map((r: { name: string }) => r.name).sort();
    expect(await names(owner)).toEqual(['lobby', 'secret']);
    expect(await names(bearerFor({ sub: 'carol', sourceAccountId: account }))).toEqual(['lobby', 'secret']);
    expect(await names(bearerFor({ sub: 'dave', sourceAccountId: account }))).toEqual(['lobby']);
    expect(await names(bearerFor({ sub: 'carol', sourceAccountId: account }), '?member=me')).toEqual(['secret']);
    expect(await names(adminHeaders(account))).toEqual(['lobby', 'secret']);
    expect(await names(bearerFor({ sub: 'owner', sourceAccountId: uniqueName('acct') }))).toEqual([]);

    // A private room does not exist for outsiders.
    const secretId = (await request(rt.service.app).get('/v1/rooms').set(owner)).body.rooms.find(
      (r: { name: string }) => r.name === 'secret',
    ).id;
    expect((await request(rt.service.app).get(`/v1/rooms/${secretId}`).set(bearerFor({ sub: 'dave', sourceAccountId: account }))).status).toBe(404);
    const seen = await request(rt.service.app).get(`/v1/rooms/${secretId}`).set(bearerFor({ sub: 'carol', sourceAccountId: account }));
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ room: { name: 'secret' }, onlineCount: 0, lastSeq: 0 });
    expect((await request(rt.service.app).get(`/v1/rooms/${secretId}`).set(adminHeaders(uniqueName('acct')))).status).toBe(404);
  });

  it('manages members: owners add and remove, outsiders cannot, max_members is enforced', async () => {
    const account = uniqueName('acct');
    const owner = bearerFor({ sub: 'owner', sourceAccountId: account });
    const room = (await request(rt.service.app).post('/v1/rooms').set(owner).send({ name: 'team', visibility: 'private', maxMembers: 2 })).body.room;

    const byOutsider = await request(rt.service.app)
      .post(`/v1/rooms/${room.id}/members`)
      .set(bearerFor({ sub: 'mallory', sourceAccountId: account }))
      .send({ userId: 'mallory' });
    expect(byOutsider.status).toBe(403);

    const added = await request(rt.service.app).post(`/v1/rooms/${room.id}/members`).set(owner).send({ userId: 'bob' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ userId: 'bob', role: 'member', banned: false });
    const again = await request(rt.service.app).post(`/v1/rooms/${room.id}/members`).set(owner).send({ userId: 'bob' });
    expect(again.status).toBe(200);

    const full = await request(rt.service.app).post(`/v1/rooms/${room.id}/members`).set(owner).send({ userId: 'carol' });
    expect(full.status).toBe(409);
    expect(full.body.code).toBe('ROOM_FULL');

    const members = await request(rt.service.app).get(`/v1/rooms/${room.id}/members`).set(owner);
    expect(members.body.total).toBe(2);

    // Members cannot remove others; they can leave; the owner can remove.
    const bob = bearerFor({ sub: 'bob', sourceAccountId: account });
    expect((await request(rt.service.app).delete(`/v1/rooms/${room.id}/members/owner`).set(bob)).status).toBe(403);
    expect((await request(rt.service.app).delete(`/v1/rooms/${room.id}/members/bob`).set(bob)).status).toBe(204);
    expect((await request(rt.service.app).delete(`/v1/rooms/${room.id}/members/bob`).set(owner)).status).toBe(404);
    expect((await request(rt.service.app).post(`/v1/rooms/${room.id}/members`).set(owner).send({ userId: 'carol' })).status).toBe(201);
  });

  it('deletes a room (owner or admin only) and moves its sockets out', async () => {
    const account = uniqueName('acct');
    const owner = bearerFor({ sub: 'owner', sourceAccountId: account });
    const room = (await request(rt.service.app).post('/v1/rooms').set(owner).send({ name: 'doomed' })).body.room;
    const bob = await client('bob', account);
    const left = collect(bob, 'room:left');
    await bob.join(room.id);

    expect((await request(rt.service.app).delete(`/v1/rooms/${room.id}`).set(bearerFor({ sub: 'bob', sourceAccountId: account }))).status).toBe(403);
    expect((await request(rt.service.app).delete(`/v1/rooms/${room.id}`).set(owner)).status).toBe(204);
    await waitFor(() => left.length === 1, { label: 'room:left' });
    expect(left[0]).toEqual({ roomId: room.id, reason: 'deleted' });
    expect((await request(rt.service.app).get(`/v1/rooms/${room.id}`).set(owner)).status).toBe(404);
    await expect(bob.join(room.id)).rejects.toMatchObject({ code: 'ROOM_NOT_FOUND' });
    await expect(bob.send(room.id, 'still there?')).rejects.toMatchObject({ code: 'NOT_IN_ROOM' });
  });

  it('broadcasts a system message to a room for admins/services only', async () => {
    const account = uniqueName('acct');
    const owner = bearerFor({ sub: 'owner', sourceAccountId: account });
    const room = (await request(rt.service.app).post('/v1/rooms').set(owner).send({ name: 'news' })).body.room;
    const bob = await client('bob', account);
    const received = collect(bob, 'message:new');
    await bob.join(room.id);

    expect((await request(rt.service.app).post(`/v1/rooms/${room.id}/broadcast`).set(owner).send({ content: 'x' })).status).toBe(403);
    const sent = await request(rt.service.app)
      .post(`/v1/rooms/${room.id}/broadcast`)
      .set(adminHeaders(account))
      .send({ content: 'Maintenance at 22:00', data: { severity: 'info' } });
    expect(sent.status).toBe(202);
    expect(sent.body).toMatchObject({ seq: 1, senderId: null, type: 'system', content: 'Maintenance at 22:00' });
    await waitFor(() => received.length === 1, { label: 'broadcast' });
    expect(received[0]).toMatchObject({ id: sent.body.id, seq: 1, data: { severity: 'info' } });
    // Another app's admin cannot address this room.
    expect((await request(rt.service.app).post(`/v1/rooms/${room.id}/broadcast`).set(adminHeaders(uniqueName('acct'))).send({ content: 'x' })).status).toBe(404);
  });

  it('reports presence, status, connections and the event log; force-disconnects a socket', async () => {
    const account = uniqueName('acct');
    const erin = await connect(rt.url, { sub: 'erin', sourceAccountId: account, client: { device: { platform: 'ios', appVersion: '2.1.0' } } });
    clients.push(erin);
    const disconnected = collect(erin, 'disconnect');
    const presence = await request(rt.service.app).get('/v1/presence/erin').set(bearerFor({ sub: 'frank', sourceAccountId: account }));
    expect(presence.status).toBe(200);
    expect(presence.body).toMatchObject({ userId: 'erin', status: 'online', connections: 1 });
    const otherApp = await request(rt.service.app).get('/v1/presence/erin').set(bearerFor({ sub: 'frank', sourceAccountId: uniqueName('acct') }));
    expect(otherApp.body).toMatchObject({ status: 'offline', connections: 0 });

    const status = await request(rt.service.app).get('/v1/status').set(adminHeaders(account));
    expect(status.status).toBe(200);
    expect(status.body.instance.connections).toBeGreaterThanOrEqual(1);
    expect(status.body.cluster.instances.map((i: { instanceId: string }) => i.instanceId)).toContain(rt.service.config.instanceId);

    const listed = await waitFor(
      async () => {
        const res = await request(rt.service.app).get('/v1/connections').set(adminHeaders(account));
        return res.body.connections?.length === 1 ? res.body : null;
      },
      { label: 'connection row' },
    );
    expect(listed.connections[0]).toMatchObject({
      userId: 'erin',
      transport: 'websocket',
      instanceId: rt.service.config.instanceId,
      ipAddress: '127.0.0.1',
      device: { platform: 'ios', appVersion: '2.1.0' },
    });
    // Latency measured from Engine.IO's ping/pong and written with the periodic connection touch.
    await waitFor(
      async () => {
        const res = await request(rt.service.app).get('/v1/connections').set(adminHeaders(account));
        return typeof res.body.connections[0]?.latencyMs === 'number';
      },
      { timeoutMs: 10_000, label: 'latency recorded' },
    );
    const socketId = listed.connections[0].socketId as string;
    expect((await request(rt.service.app).get('/v1/connections').set(bearerFor({ sub: 'erin', sourceAccountId: account }))).status).toBe(403);

    // Only within the caller's app.
    expect((await request(rt.service.app).delete(`/v1/connections/${socketId}`).set(adminHeaders(uniqueName('acct')))).status).toBe(404);
    expect((await request(rt.service.app).delete(`/v1/connections/${socketId}`).set(adminHeaders(account))).status).toBe(204);
    await waitFor(() => disconnected.length >= 1, { label: 'forced disconnect' });
    expect(disconnected[0]!.reason).toBe('io server disconnect');

    const events = await waitFor(
      async () => {
        const res = await request(rt.service.app).get('/v1/events?limit=50').set(adminHeaders(account));
        const types = (res.body.events as { eventType: string }[]).map((e) => e.eventType);
        return types.includes('disconnect') && types.includes('admin:disconnect') ? types : null;
      },
      { label: 'event log rows' },
    );
    expect(events).toContain('connect');
  });
});

describe('HTTP settings from the environment', () => {
  it('answers CORS for REALTIME_CORS_ORIGIN only (REST and Engine.IO polling) and uses the configured ping interval', async () => {
    const allowed = await fetch(`${rt.url}/health`, { headers: { origin: 'http://app.example' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const other = await fetch(`${rt.url}/health`, { headers: { origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const handshake = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'http://app.example' } });
    expect(handshake.status).toBe(200);
    expect(handshake.headers.get('access-control-allow-origin')).toBe('http://app.example');
    const open = JSON.parse((await handshake.text()).slice(1)) as { pingInterval: number; pingTimeout: number; maxPayload: number };
    expect(open).toMatchObject({ pingInterval: 1000, pingTimeout: 60000, maxPayload: 1_000_000 });
    const foreign = await fetch(`${rt.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'http://evil.example' } });
    expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
  });
});
