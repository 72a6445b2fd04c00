import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryLogger, runWithRequestId } from '@nself/logging';
import { testInfra, uniqueName, waitFor } from '@nself/test-support';
import { EventBus, type DomainEvent } from '../src/index.js';

describe('EventBus on RabbitMQ', () => {
  const buses: EventBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((b) => b.close()));
  });

  function bus(service: string, exchange: string) {
    const { logger } = createMemoryLogger(service);
    const b = new EventBus({ url: testInfra().amqpUrl, logger, service, exchange });
    buses.push(b);
    return b;
  }

  it('delivers published events to subscribers bound by pattern, with the request id', async () => {
    const exchange = uniqueName('ex');
    const publisher = bus('file-processing', exchange);
    const consumer = bus('realtime', exchange);
    const received: DomainEvent[] = [];
    await consumer.subscribe({
      queue: uniqueName('q'),
      bindings: ['file.*'],
      handler: async (event) => {
        received.push(event);
      },
    });
    await consumer.start();
    await publisher.start();
    await runWithRequestId('req-42', () =>
      publisher.publish('file.processed', { fileId: 'f1', jobId: 'j1', thumbnails: 9, mimeType: 'image/jpeg' }, {
        sourceAccountId: 'app1',
        userId: 'u1',
      }),
    );
    await publisher.publish('job.completed', { jobId: 'j', queue: 'q', type: 't' }, { sourceAccountId: 'app1' });
    await waitFor(() => received.length === 1, { label: 'file.processed delivery' });
    expect(received[0]).toMatchObject({
      type: 'file.processed',
      source: 'file-processing',
      sourceAccountId: 'app1',
      userId: 'u1',
      requestId: 'req-42',
      data: { fileId: 'f1' },
    });
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toHaveLength(1);
  });

  it('retries a failing handler once, then dead-letters the event', async () => {
    const exchange = uniqueName('ex');
    const queue = uniqueName('q');
    const b = bus('realtime', exchange);
    let calls = 0;
    await b.subscribe({
      queue,
      bindings: ['job.failed'],
      handler: async () => {
        calls += 1;
        throw new Error('handler broke');
      },
    });
    await b.start();
    await b.publish('job.failed', { jobId: 'j', queue: 'q', type: 't', error: 'x', attempts: 3 }, { sourceAccountId: 'a' });
    await waitFor(() => calls === 2, { label: 'redelivery' });
    const channel = await b.connection.getChannel();
    const dead = await waitFor(async () => (await channel.checkQueue(`${queue}.dead`)).messageCount === 1, {
      label: 'dead-lettered message',
    });
    expect(dead).toBe(true);
  });
});
