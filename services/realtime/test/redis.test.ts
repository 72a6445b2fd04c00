import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import { testInfra } from '@nself/test-support';
import { closeRedis, corkUntilCheckPhase, createRedis, type Redis } from '../src/adapters/redis.js';

interface SocketInternals {
  _write(chunk: unknown, encoding: string, callback: () => void): void;
  _writev(chunks: { chunk: unknown }[], callback: () => void): void;
  writableCorked: number;
}

let redis: Redis;
const key = `nself-test:cork:${process.pid}`;

beforeAll(async () => {
  redis = createRedis(testInfra().redisUrl, createMemoryLogger().logger, 'cork-test', { enableAutoPipelining: false });
  await redis.ping();
});

afterAll(async () => {
  await redis.del(key);
  await closeRedis(redis);
});

/** Counts the socket writes the client makes (a corked socket flushes several chunks with one _writev). */
function countWrites(stream: SocketInternals): { single: number; batches: number[]; restore(): void } {
  const { _write, _writev } = stream;
  const counts = {
    single: 0,
    batches: [] as number[],
    restore() {
      stream._write = _write;
      stream._writev = _writev;
    },
  };
  stream._write = function (chunk, encoding, callback) {
    counts.single += 1;
    return _write.call(this, chunk, encoding, callback);
  };
  stream._writev = function (chunks, callback) {
    counts.batches.push(chunks.length);
    return _writev.call(this, chunks, callback);
  };
  return counts;
}

describe('corkUntilCheckPhase', () => {
  it('sends the commands of one event-loop turn in one write at the check phase, with their replies intact', async () => {
    const stream = redis.stream as unknown as SocketInternals;
    const writes = countWrites(stream);
    try {
      corkUntilCheckPhase(redis);
      corkUntilCheckPhase(redis); // a second call in the same turn changes nothing
      const replies = Promise.all([redis.set(key, '1'), redis.incr(key), redis.get(key)]);
      expect(stream.writableCorked).toBe(1);
      expect(writes.single).toBe(0);
      expect(writes.batches).toEqual([]);
      expect(await replies).toEqual(['OK', 2, '2']);
      expect(stream.writableCorked).toBe(0);
      expect(writes.batches).toEqual([3]);
      expect(writes.single).toBe(0);

      // Without it, each command is its own write.
      await Promise.all([redis.incr(key), redis.incr(key)]);
      expect(writes.single).toBe(2);
      expect(writes.batches).toEqual([3]);
    } finally {
      writes.restore();
    }
  });

  it('does nothing while the client has no writable connection (commands wait in its offline queue)', async () => {
    const offline = createRedis(testInfra().redisUrl, createMemoryLogger().logger, 'cork-offline', { lazyConnect: true });
    try {
      expect(() => corkUntilCheckPhase(offline)).not.toThrow();
      expect(await offline.ping()).toBe('PONG');
    } finally {
      await closeRedis(offline);
    }
  });
});
