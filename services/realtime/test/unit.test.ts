import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nself/config';
import { TEST_JWT_SECRET } from '@nself/test-support';
import { loadConfig, realtimeEnvSchema } from '../src/config.js';
import { uuidv7 } from '../src/ids.js';
import { clientAddress, handshakeToken, tokenExpiry } from '../src/socket/handshake.js';
import { TokenBucket } from '../src/socket/rate-limit.js';
import { DbWriter } from '../src/adapters/db-writer.js';
import { createMemoryLogger } from '@nself/logging';
import type { PrismaClient } from '@nself/db';

describe('config', () => {
  it('names missing and invalid variables without their values', () => {
    try {
      loadConfig({ JWT_SECRET: TEST_JWT_SECRET, REALTIME_TRANSPORTS: 'carrier-pigeon' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variables.sort()).toEqual(['DATABASE_URL', 'REALTIME_TRANSPORTS.0']);
      expect((error as Error).message).not.toContain('carrier-pigeon');
    }
    expect(() => loadConfig({ DATABASE_URL: 'postgresql://x/y' })).toThrow(/JWT_SECRET/);
    expect(() => loadConfig({ DATABASE_URL: 'x', JWT_SECRET: TEST_JWT_SECRET, REALTIME_HEAP_GROWTH_PERCENT: '301' })).toThrow(
      /REALTIME_HEAP_GROWTH_PERCENT/,
    );
  });

  it('applies the documented defaults', () => {
    const config = loadConfig({ DATABASE_URL: 'postgresql://x/y', JWT_SECRET: TEST_JWT_SECRET, REDIS_KEY_PREFIX: 'app' });
    expect(config).toMatchObject({ port: 3101, keyPrefix: 'app:rt', redisUrl: 'redis://127.0.0.1:6379', corsOrigins: [] });
    expect(config.env).toMatchObject({
      REALTIME_MAX_CONNECTIONS: 10000,
      REALTIME_PING_TIMEOUT: 60000,
      REALTIME_PING_INTERVAL: 25000,
      REALTIME_ALLOW_ANONYMOUS: false,
      REALTIME_TYPING_TIMEOUT_MS: 3000,
      REALTIME_TRANSPORTS: ['websocket', 'polling'],
      REALTIME_HEAP_GROWTH_PERCENT: 50,
    });
    expect(loadConfig({ DATABASE_URL: 'x', JWT_SECRET: TEST_JWT_SECRET, REALTIME_REDIS_URL: 'redis://r:1' }).redisUrl).toBe('redis://r:1');
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then the rate, and says how long to wait', () => {
    const bucket = new TokenBucket(10, 3, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([0, 0, 0]);
    expect(bucket.take(0)).toBe(100);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(100)).toBeGreaterThan(0);
  });
});

describe('DbWriter', () => {
  it('stop() also writes rows recorded while a timer flush was already running', async () => {
    const statements: string[] = [];
    let releaseFirst!: () => void;
    const firstWrite = new Promise<void>((resolve) => (releaseFirst = resolve));
    const prisma = {
      $executeRaw: async (sql: TemplateStringsArray) => {
        statements.push(sql.join('?'));
        if (statements.length === 1) await firstWrite;
        return 1;
      },
    } as unknown as PrismaClient;
    const writer = new DbWriter(prisma, createMemoryLogger().logger, { instanceId: 'i', flushMs: 60_000, bufferMax: 100, logEvents: [] });
    writer.connected({ account: 'a', socketId: 's1', userId: 'u', transport: 'websocket', ipAddress: '::1', userAgent: '', device: {}, connectedAt: new Date() });
    const timerFlush = writer.flush();
    writer.disconnected('s1', 'forced close');
    const stopped = writer.stop();
    releaseFirst();
    await Promise.all([timerFlush, stopped]);
    expect(statements).toHaveLength(2);
    expect(statements[0]).toContain('INSERT INTO realtime_connections');
    expect(statements[1]).toContain("SET status = 'disconnected'");
    expect(writer.pending).toBe(0);
  });
});

describe('ids and handshake helpers', () => {
  it('makes time-ordered RFC 9562 v7 UUIDs', () => {
    const ids = Array.from({ length: 1000 }, () => uuidv7());
    expect(new Set(ids).size).toBe(1000);
    expect([...ids].sort()).toEqual(ids);
    expect(ids[0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('reads the token from auth.token or a bearer header, and its expiry', () => {
    expect(handshakeToken({ token: 'abc' }, {})).toBe('abc');
    expect(handshakeToken({ token: 'Bearer abc' }, {})).toBe('abc');
    expect(handshakeToken({}, { authorization: 'Bearer xyz' })).toBe('xyz');
    expect(handshakeToken(undefined, {})).toBeUndefined();
    const payload = Buffer.from(JSON.stringify({ exp: 2_000_000_000 })).toString('base64url');
    expect(tokenExpiry(`h.${payload}.s`)).toBe(2_000_000_000_000);
    expect(tokenExpiry('garbage')).toBeNull();
  });

  it('trusts X-Forwarded-For only from a private/loopback peer (the gateway)', () => {
    expect(clientAddress('::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.9, 10.0.0.2' })).toBe('203.0.113.9');
    expect(clientAddress('198.51.100.7', { 'x-forwarded-for': '203.0.113.9' })).toBe('198.51.100.7');
    expect(clientAddress('10.1.2.3', {})).toBe('10.1.2.3');
  });
});

describe('plugin.json and .env.example', () => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  const plugin = JSON.parse(readFileSync(path.join(root, 'plugin.json'), 'utf8')) as {
    envVars: { name: string; required: boolean; default: string | null }[];
  };
  const schemaNames = [...Object.keys(realtimeEnvSchema.shape), 'REALTIME_CLI_ACCOUNT'].sort();

  it('list every variable the service reads', () => {
    expect(plugin.envVars.map((v) => v.name).sort()).toEqual(schemaNames);
    const example = readFileSync(path.join(root, '.env.example'), 'utf8');
    const listed = [...example.matchAll(/^(?:# )?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(schemaNames);
  });

  it('state the defaults the schema applies', () => {
    const shape = realtimeEnvSchema.shape as Record<string, { parse(v: unknown): unknown }>;
    for (const v of plugin.envVars) {
      if (v.default === null || !shape[v.name]) continue;
      expect(shape[v.name]!.parse(v.default), v.name).toEqual(shape[v.name]!.parse(undefined));
    }
    expect(plugin.envVars.filter((v) => v.required).map((v) => v.name)).toEqual(['DATABASE_URL']);
  });
});
