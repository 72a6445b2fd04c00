import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { testInfra } from '@nself/test-support';
import { collect, connect, startInProcess, uniqueName, waitFor } from './helpers.js';
import { signTestToken } from '@nself/test-support';
import { io as ioClient } from 'socket.io-client';

const redis = new Redis(testInfra().redisUrl);
afterAll(() => {
  redis.disconnect();
});

it('drains on stop: clients are told to reconnect elsewhere, shared state and the DB mirror are cleaned up', async () => {
  const rt = await startInProcess();
  const account = uniqueName('acct');
  const client = await connect(rt.url, { sub: 'leaver', sourceAccountId: account });
  const disconnects = collect(client, 'disconnect');
  const prefix = `${rt.env.REDIS_KEY_PREFIX}:rt`;
  expect(await redis.zscore(`${prefix}:instances`, rt.service.config.instanceId)).not.toBeNull();

  await rt.stop();
  // A transport close (not "io server disconnect"), so socket.io-client reconnects by itself.
  await waitFor(() => disconnects.length === 1);
  expect(disconnects[0]!.reason).toBe('transport close');
  expect(client.socket.active).toBe(true);
  client.disconnect();

  expect(await redis.zscore(`${prefix}:instances`, rt.service.config.instanceId)).toBeNull();
  expect(await redis.scard(`${prefix}:a:${account}:u:leaver:socks`)).toBe(0);
  expect(await redis.hget(`${prefix}:a:${account}:u:leaver:presence`, 'status')).toBe('offline');
  const db = new pg.Client({ connectionString: testInfra().databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query('SELECT status, disconnect_reason FROM realtime_connections WHERE source_account_id = $1', [account]);
    expect(rows).toEqual([{ status: 'disconnected', disconnect_reason: 'forced close' }]);
  } finally {
    await db.end();
  }
});

it('refuses handshakes beyond REALTIME_MAX_CONNECTIONS with SERVER_FULL', async () => {
  const rt = await startInProcess({ REALTIME_MAX_CONNECTIONS: '2' });
  try {
    const account = uniqueName('acct');
    const first = await connect(rt.url, { sub: 'a', sourceAccountId: account });
    const second = await connect(rt.url, { sub: 'b', sourceAccountId: account });
    const refused = await new Promise<{ data?: { code: string } }>((resolve) => {
      const socket = ioClient(rt.url, { transports: ['websocket'], reconnection: false, auth: { token: signTestToken({ sub: 'c', sourceAccountId: account }) } });
      socket.on('connect', () => resolve({}));
      socket.on('connect_error', (error) => {
        socket.disconnect();
        resolve(error as never);
      });
    });
    expect(refused.data?.code).toBe('SERVER_FULL');
    second.disconnect();
    await waitFor(() => rt.service.sockets.io.engine.clientsCount === 1);
    const third = await connect(rt.url, { sub: 'c', sourceAccountId: account });
    expect(third.connected).toBe(true);
    first.disconnect();
    third.disconnect();
  } finally {
    await rt.stop();
  }
});
