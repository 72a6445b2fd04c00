import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import { createShutdown } from '../src/index.js';

describe('shutdown', () => {
  it('runs steps once, in order, and carries on after a failing step', async () => {
    const { logger, lines } = createMemoryLogger();
    const order: string[] = [];
    const shutdown = createShutdown({ logger });
    shutdown.add('readiness', () => order.push('readiness'));
    shutdown.add('server', async () => {
      await new Promise((r) => setTimeout(r, 5));
      order.push('server');
    });
    shutdown.add('workers', () => {
      throw new Error('worker close failed');
    });
    shutdown.add('db', () => order.push('db'));
    await Promise.all([shutdown.run('SIGTERM'), shutdown.run('again')]);
    expect(order).toEqual(['readiness', 'server', 'db']);
    expect(lines.some((l) => l.step === 'workers' && l.msg === 'shutdown step failed')).toBe(true);
  });
});
