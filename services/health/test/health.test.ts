import { describe, expect, it } from 'vitest';
import { createHealth } from '../src/index.js';

describe('health', () => {
  it('is ready when every check passes and reports each one', async () => {
    const health = createHealth({ db: async () => 1, redis: async () => 'PONG' });
    const ready = await health.readiness();
    expect(ready.status).toBe('ok');
    expect(Object.keys(ready.checks).sort()).toEqual(['db', 'redis']);
  });

  it('is not ready when a check fails or hangs', async () => {
    const health = createHealth(
      { db: async () => Promise.reject(new Error('connection refused')), slow: () => new Promise(() => {}) },
      50,
    );
    const ready = await health.readiness();
    expect(ready.status).toBe('error');
    expect(ready.checks.db).toMatchObject({ status: 'error', error: 'connection refused' });
    expect(ready.checks.slow).toMatchObject({ status: 'error', error: 'timed out after 50 ms' });
  });

  it('answers shutting_down once marked, while liveness stays ok', async () => {
    const health = createHealth({ db: async () => 1 });
    health.markShuttingDown();
    expect((await health.readiness()).status).toBe('shutting_down');
    expect(health.liveness().status).toBe('ok');
  });
});
