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
    const created = await api<{ id: string }>('POST', '/realtime/v1/rooms', {
      token: token(`owner-${runId}`, { sourceAccountId: account }),
      json: { name: `scale-${runId}`, visibility: 'public' },
    });
    expect(created.status).toBe(201);
    roomId = created.body.id;
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

  it('a replica stopped mid-test: its client moves to another replica, keeps its room and misses nothing', async () => {
    const victim = REPLICAS[1]!; // realtime-2
    const moving = byReplica.get(victim)!;
    const staying = REPLICAS.filter((r) => r !== victim).map((r) => byReplica.get(r)!);
    const movingGot: string[] = [];
    moving.c.on('message:new', (m: ChatMessage) => movingGot.push(m.content));
    const stayingGot = staying.map(() => [] as string[]);
    staying.forEach((s, i) => s.c.on('message:new', (m: ChatMessage) => stayingGot[i]!.push(m.content)));
    let resumed: { rooms: string[] } | undefined;
    moving.c.on('resumed', (r) => (resumed = r));

    // messages keep flowing while the replica goes away
    const sent: string[] = [];
    let sending = true;
    const sender = (async () => {
      for (let i = 0; sending && i < 200; i++) {
        const content = `during-${i}`;
        await staying[0]!.c.send(roomId, content);
        sent.push(content);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    await podman('stop', '-t', '10', containerOf(victim));
    await waitFor(() => resumed, { timeoutMs: 30_000, intervalMs: 100, label: 'the moved client resumed' });
    sending = false;
    await sender;

    expect(resumed!.rooms).toContain(roomId);
    expect(replicaOf(moving.c)).not.toBe(victim);
    expect(moving.c.joinedRooms.map((r) => r.roomId)).toContain(roomId);
    // everything sent before, during and after the move arrives, once and in order
    await waitFor(() => sent.every((m) => movingGot.includes(m)), { timeoutMs: 15_000, label: 'no message lost' });
    expect(movingGot.filter((m) => m.startsWith('during-'))).toEqual(sent);

    // and the moved client is heard by the others again
    await moving.c.send(roomId, 'back again');
    for (const got of stayingGot) await waitFor(() => got.includes('back again'), { timeoutMs: 10_000, label: 'others hear the moved client' });
  });
});
