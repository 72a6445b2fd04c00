// compose.yaml + compose.scale.yaml: three realtime replicas behind the gateway. Clients on different
// replicas chat and agree on presence; a replica stopped mid-test (its container, `podman stop`) costs its
// clients neither their rooms nor a message.
import { createRealtimeClient, type ChatMessage, type Presence, type RealtimeClient } from '@nself/realtime-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, containerOf, gatewayUrl, podman, runId, token, variant, waitFor } from './support.js';

const account = `e2e-scale-${runId}`;
const REPLICAS = ['realtime', 'realtime-2', 'realtime-3'];
const clients: RealtimeClient[] = [];
/** container hostname → compose service, to tell which replica a client landed on. */
const serviceByHost = new Map<string, string>();

function client(user: string): RealtimeClient {
  const c = createRealtimeClient({
    url: gatewayUrl,
    token: () => token(user, { sourceAccountId: account }),
    transports: ['polling', 'websocket'], // the sticky-cookie path, then the WebSocket upgrade
    reconnectionDelayMs: 200,
    reconnectionDelayMaxMs: 1000,
    socketOptions: { withCredentials: true, forceNew: true },
  });
  clients.push(c);
  return c;
}

/** The compose service of the replica a client is connected to (instance ids start with the hostname). */
function replicaOf(c: RealtimeClient): string {
  const instance = c.instanceId ?? '';
  for (const [host, service] of serviceByHost) if (instance.startsWith(`${host}-`)) return service;
  throw new Error(`instance ${instance} is none of the replicas`);
}

async function replicaHealthy(service: string): Promise<boolean> {
  try {
    await podman('healthcheck', 'run', containerOf(service));
    return true;
  } catch {
    return false;
  }
}

describe.runIf(variant === 'scale')('three realtime replicas behind the gateway', () => {
  /** One connected client per replica, by replica. */
  const byReplica = new Map<string, { c: RealtimeClient; user: string }>();
  let roomId = '';

  beforeAll(async () => {
    for (const service of REPLICAS) {
      serviceByHost.set(await podman('inspect', '--format', '{{.Config.Hostname}}', containerOf(service)), service);
    }
    // the gateway hands new clients to the replicas in turn: a few connections cover all three
    for (let i = 0; i < 12 && byReplica.size < REPLICAS.length; i++) {
      const user = `u${i}-${runId}`;
      const c = client(user);
      await c.connect();
      const replica = replicaOf(c);
      if (byReplica.has(replica)) c.disconnect();
      else byReplica.set(replica, { c, user });
    }
    const created = await api<{ room: { id: string } }>('POST', '/realtime/v1/rooms', {
      token: token(`owner-${runId}`, { sourceAccountId: account }),
      json: { name: `scale-${runId}`, visibility: 'public' },
    });
    expect(created.status, created.text).toBe(201);
    roomId = created.body.room.id;
  });

  afterAll(async () => {
    for (const c of clients) c.disconnect();
    // leave the stack as it was: every replica running and healthy
    for (const service of REPLICAS) {
      const running = await podman('inspect', '--format', '{{.State.Running}}', containerOf(service));
      if (running !== 'true') await podman('start', containerOf(service));
      await waitFor(() => replicaHealthy(service), { timeoutMs: 60_000, intervalMs: 1000, label: `${service} healthy again` });
    }
  });

  it('clients land on all three replicas', () => {
    expect([...byReplica.keys()].sort()).toEqual([...REPLICAS].sort());
  });

  it('a message sent on one replica reaches clients on the two others', async () => {
    const received = new Map<string, string[]>();
    for (const [replica, { c }] of byReplica) {
      await c.join(roomId);
      received.set(replica, []);
      c.on('message:new', (m: ChatMessage) => received.get(replica)!.push(m.content));
    }
    for (const [replica, { c }] of byReplica) await c.send(roomId, `from ${replica}`);
    for (const replica of REPLICAS) {
      await waitFor(() => REPLICAS.every((from) => received.get(replica)!.includes(`from ${from}`)), {
        timeoutMs: 15_000,
        label: `${replica} received the messages of every replica`,
      });
    }
  });

  it('presence set on one replica is seen on the others and by every replica over HTTP', async () => {
    const [first, second, third] = REPLICAS.map((r) => byReplica.get(r)!);
    const seen: Presence[] = [];
    await second!.c.subscribePresence([first!.user]);
    await third!.c.subscribePresence([first!.user]);
    second!.c.on('presence:changed', (p) => seen.push(p));
    third!.c.on('presence:changed', (p) => seen.push(p));

    await first!.c.setPresence({ status: 'busy', statusText: `e2e ${runId}` });
    await waitFor(() => seen.filter((p) => p.userId === first!.user && p.status === 'busy').length >= 2, {
      timeoutMs: 10_000,
      label: 'presence:changed on both other replicas',
    });
    // REST reads without a sticky cookie go to the replicas in turn: all of them agree
    const owner = token(`owner-${runId}`, { sourceAccountId: account });
    for (let i = 0; i < 6; i++) {
      const res = await api<Presence>('GET', `/realtime/v1/presence/${first!.user}`, { token: owner });
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('busy');
    }
  });

  /**
   * Takes one replica away while messages flow, then checks that its client came back through the
   * gateway (on another replica, or the restarted one), re-joined its room and received every message
   * in order, exactly once — and is heard by the others again.
   */
  async function loseReplica(victim: string, takeAway: () => Promise<unknown>): Promise<{ from: string | null; to: string | null }> {
    const moving = byReplica.get(victim)!;
    const staying = [...byReplica.entries()].filter(([r]) => r !== victim).map(([, v]) => v);
    // the sender must not be on the victim (a client moved there by an earlier test would be)
    const sender_ = staying.find((st) => replicaOf(st.c) !== victim)!;
    const before = moving.c.instanceId;
    const movingGot: string[] = [];
    const offMoving = moving.c.on('message:new', (m: ChatMessage) => movingGot.push(m.content));
    const stayingGot = staying.map(() => [] as string[]);
    const offStaying = staying.map((st, i) => st.c.on('message:new', (m: ChatMessage) => stayingGot[i]!.push(m.content)));
    let resumed: { rooms: string[] } | undefined;
    const offResumed = moving.c.on('resumed', (r) => (resumed = r));

    // messages keep flowing while the replica goes away
    const sent: string[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending && i < 300; i++) {
        const content = `${victim}-during-${i}`;
        await sender_.c.send(roomId, content);
        sent.push(content);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await new Promise((r) => setTimeout(r, 300)); // some messages before
    await takeAway();
    await waitFor(() => resumed, { timeoutMs: 30_000, intervalMs: 100, label: `the client of ${victim} resumed` });
    await new Promise((r) => setTimeout(r, 300)); // some messages after
    sending = false;
    await sender;

    expect(resumed!.rooms).toContain(roomId);
    expect(moving.c.connected).toBe(true);
    expect(moving.c.instanceId).not.toBe(before);
    expect(moving.c.joinedRooms.map((r) => r.roomId)).toContain(roomId);
    // everything sent before, during and after the move arrives, once and in order
    await waitFor(() => sent.every((m) => movingGot.includes(m)), { timeoutMs: 15_000, label: 'no message lost' });
    expect(movingGot.filter((m) => m.startsWith(`${victim}-during-`))).toEqual(sent);

    const hello = `${victim}'s client is back`;
    await moving.c.send(roomId, hello);
    for (const got of stayingGot) await waitFor(() => got.includes(hello), { timeoutMs: 10_000, label: 'others hear the moved client' });
    offMoving();
    offStaying.forEach((off) => off());
    offResumed();
    return { from: before, to: moving.c.instanceId };
  }

  it('a replica stopped mid-test (podman stop): its client moves to another replica, keeps its room, misses nothing', async () => {
    await loseReplica('realtime-2', () => podman('stop', '-t', '10', containerOf('realtime-2')));
    expect(replicaOf(byReplica.get('realtime-2')!.c)).not.toBe('realtime-2');
  });

  it('a replica killed mid-test (SIGKILL, no goodbye): the same', async () => {
    await loseReplica('realtime-3', () => podman('kill', '--signal', 'KILL', containerOf('realtime-3')));
  });
});
