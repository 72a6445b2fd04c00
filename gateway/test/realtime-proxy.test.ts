import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@nself/test-support';
import { startGateway, startSocketReplica } from './helpers.js';

type Replica = Awaited<ReturnType<typeof startSocketReplica>>;

const whoami = (socket: Socket) => socket.timeout(3000).emitWithAck('whoami') as Promise<string>;

describe('realtime through the gateway (three replicas)', () => {
  let replicas: Replica[];
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  const sockets: Socket[] = [];

  function connect(transports: ('polling' | 'websocket')[], withCredentials = true) {
    const socket = io(gateway.url, {
      path: '/realtime/socket.io',
      transports,
      withCredentials,
      reconnectionDelay: 100,
      reconnectionDelayMax: 200,
    });
    sockets.push(socket);
    return socket;
  }

  beforeAll(async () => {
    replicas = await Promise.all(['a', 'b', 'c'].map((n) => startSocketReplica(n)));
    gateway = await startGateway({ REALTIME_URLS: replicas.map((r) => r.url).join(',') });
  });

  afterAll(async () => {
    sockets.forEach((s) => s.disconnect());
    await gateway.close();
    replicas.forEach((r) => r.crash());
  });

  it('upgrades WebSockets under /realtime/socket.io', async () => {
    const socket = connect(['websocket']);
    await waitFor(() => socket.connected, { label: 'websocket connect' });
    expect(socket.io.engine.transport.name).toBe('websocket');
    expect(['a', 'b', 'c']).toContain(await whoami(socket));
  });

  it('keeps a long-polling session on one replica (sticky cookie) and spreads new sessions', async () => {
    const clients = [connect(['polling']), connect(['polling']), connect(['polling'])];
    await waitFor(() => clients.every((c) => c.connected), { label: 'polling clients connected' });
    const names = await Promise.all(clients.map(async (c) => {
      const answers = new Set<string>();
      for (let i = 0; i < 5; i++) answers.add(await whoami(c));
      expect(answers.size).toBe(1);
      expect(c.io.engine.transport.name).toBe('polling');
      return [...answers][0];
    }));
    expect(new Set(names).size).toBeGreaterThan(1);
  });

  it('upgrades a polling session to WebSocket on the same replica', async () => {
    const socket = connect(['polling', 'websocket']);
    await waitFor(() => socket.connected && socket.io.engine.transport.name === 'websocket', {
      label: 'upgrade to websocket',
    });
    const first = await whoami(socket);
    expect(await whoami(socket)).toBe(first);
  });

  it('moves clients of a replica that goes down to the others', async () => {
    const socket = connect(['polling', 'websocket']);
    await waitFor(() => socket.connected, { label: 'connect' });
    const before = await whoami(socket);
    const dying = replicas.find((r) => r.name === before)!;
    dying.crash();
    await waitFor(async () => socket.connected && (await whoami(socket).catch(() => before)) !== before, {
      timeoutMs: 15_000,
      label: 'reconnect to another replica',
    });
    expect(['a', 'b', 'c'].filter((n) => n !== before)).toContain(await whoami(socket));
  });

  it('refuses WebSocket upgrades outside /realtime', async () => {
    const socket = io(gateway.url, { path: '/jobs/socket.io', transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    expect(error).toBeInstanceOf(Error);
    expect(socket.connected).toBe(false);
  });
});
