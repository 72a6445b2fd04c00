import { describe, expect, it } from 'vitest';
import { createMemoryLogger } from '@nself/logging';
import { Registry } from '@nself/metrics';
import type { ClaimedRow, DeliveryStore } from '../src/adapters/delivery-store.js';
import { createDeliveryMetrics } from '../src/metrics.js';
import { createProviderRegistry } from '../src/providers/registry.js';
import { ProviderError, type DeliveryRequest, type Provider } from '../src/providers/types.js';
import { createDeliveryProcessor, type DeliveryOptions } from '../src/use-cases/deliver.js';

// The processor's decisions with a fake store, queue and providers (the integration tests run the
// same code against Postgres, RabbitMQ and real receivers).

function row(id: string, over: Partial<ClaimedRow> = {}): ClaimedRow {
  return {
    id,
    sourceAccountId: 'app',
    userId: 'u',
    channel: 'sms',
    category: 'general',
    priority: 'normal',
    recipient: '+14155550100',
    content: { sms: 'hi' },
    attempts: 1,
    maxAttempts: 5,
    kind: 'single',
    batchId: null,
    templateName: 't',
    createdAt: new Date(),
    lastError: null,
    prevStatus: 'queued',
    ...over,
  };
}

function provider(name: string, behaviour: (r: DeliveryRequest) => Promise<{ messageId: string | null }>): Provider & { calls: string[] } {
  const calls: string[] = [];
  return {
    name,
    channel: 'sms',
    calls,
    accepts: () => true,
    async send(request) {
      calls.push(request.notificationId);
      return behaviour(request);
    },
  };
}

function setup(rows: ClaimedRow[], providers: Provider[], options: Partial<DeliveryOptions> = {}, history = new Map()) {
  const log: string[] = [];
  const store = {
    claim: async () => rows,
    inspect: async () => [],
    recordInDoubt: async () => undefined,
    providerHistory: async () => history,
    recordSent: async (records: { id: string; provider: string }[]) => {
      records.forEach((r) => log.push(`sent ${r.id} ${r.provider}`));
      return new Set(records.map((r) => r.id));
    },
    recordRetry: async (r: { id: string; provider: string; attemptStatus: string }, delay: number) => {
      log.push(`retry ${r.id} ${r.provider} ${r.attemptStatus} ${delay}`);
      return true;
    },
    markRetryDispatched: async (id: string) => void log.push(`dispatched ${id}`),
    recordFailed: async (r: { id: string; error: string }) => {
      log.push(`failed ${r.id} ${r.error}`);
      return true;
    },
    releaseClaim: async (id: string) => void log.push(`released ${id}`),
    completeDigest: async () => undefined,
    failDigest: async () => undefined,
  } as unknown as DeliveryStore;
  const queue = {
    publishRetry: async (id: string, attempts: number, delay: number) => void log.push(`publish-retry ${id} ${attempts} ${delay}`),
    publishWait: async () => undefined,
    publishDead: async (id: string) => void log.push(`publish-dead ${id}`),
  };
  const processor = createDeliveryProcessor({
    store,
    queue,
    registry: createProviderRegistry(providers, null),
    events: null,
    metrics: createDeliveryMetrics(new Registry()),
    logger: createMemoryLogger().logger,
    options: {
      leaseMs: 60_000,
      sendTimeoutMs: 10_000,
      providerAttempts: 2,
      retry: { baseMs: 1000, maxMs: 60_000, jitter: 0 },
      concurrency: 4,
      emitSentEvents: false,
      ...options,
    },
  });
  return { processor, log };
}

describe('delivery processor', () => {
  it('records sends, and queues a row again before publishing its retry', async () => {
    const twilio = provider('twilio', async (r) => {
      if (r.notificationId === 'b') throw new ProviderError('twilio: HTTP 503', 'transient');
      return { messageId: `SM-${r.notificationId}` };
    });
    const { processor, log } = setup([row('a'), row('b')], [twilio]);
    await processor.handle({ v: 1, ids: ['a', 'b'], reason: 'new', attempts: 0 });
    expect(log).toContain('sent a twilio');
    const retry = log.indexOf('retry b twilio failed 1000');
    expect(retry).toBeGreaterThanOrEqual(0);
    expect(log.indexOf('publish-retry b 1 1000')).toBeGreaterThan(retry);
    expect(log.indexOf('dispatched b')).toBeGreaterThan(log.indexOf('publish-retry b 1 1000'));
  });

  it('fails over once a provider used up its attempts, and dead-letters when none is left', async () => {
    const twilio = provider('twilio', async () => ({ messageId: 'x' }));
    const plivo = provider('plivo', async () => {
      throw new ProviderError('plivo: HTTP 400 invalid number', 'permanent');
    });
    // Two failures on twilio already: the third attempt goes to plivo, which refuses for good.
    const history = new Map([['twilio', { failures: 2, rejected: false }]]);
    const { processor, log } = setup([row('c', { attempts: 3 })], [twilio, plivo], {}, history);
    await processor.handle({ v: 1, ids: ['c'], reason: 'retry', attempts: 2 });
    expect(twilio.calls).toEqual([]);
    expect(plivo.calls).toEqual(['c']);
    expect(log).toEqual(['publish-dead c', 'failed c plivo: HTTP 400 invalid number']);
  });

  it('gives a claim back instead of sending when the send could outlast the lease', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = provider('twilio', async (r) => {
      if (r.notificationId === 'first') await gate;
      return { messageId: 'x' };
    });
    const { processor, log } = setup([row('first'), row('second')], [slow], { concurrency: 1, leaseMs: 1000, sendTimeoutMs: 100 });
    const handled = processor.handle({ v: 1, ids: ['first', 'second'], reason: 'new', attempts: 0 });
    await new Promise((r) => setTimeout(r, 950));
    release();
    await handled;
    expect(slow.calls).toEqual(['first']);
    expect(log).toEqual(['sent first twilio', 'released second']);
  });

  it('on stop, finishes the send under way and gives back the ones still waiting', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = provider('twilio', async () => {
      await gate;
      return { messageId: 'x' };
    });
    const { processor, log } = setup([row('d'), row('e'), row('f')], [slow], { concurrency: 1 });
    const handled = processor.handle({ v: 1, ids: ['d', 'e', 'f'], reason: 'new', attempts: 0 });
    await new Promise((r) => setTimeout(r, 20));
    processor.stop();
    release();
    await handled;
    expect(slow.calls).toEqual(['d']);
    expect(log).toEqual(['sent d twilio', 'released e', 'released f']);
  });
});
