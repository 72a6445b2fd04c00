import { randomUUID } from 'node:crypto';
import type { ConsumeMessage } from 'amqplib';
import { getRequestId, runWithRequestId, type Logger } from '@nself/logging';
import { AmqpConnection, publishConfirmed } from './amqp-connection.js';
import type { DomainEvent, EventType, EventData } from './contracts.js';

export const DEFAULT_EVENTS_EXCHANGE = 'nself.events';

export interface EventBusOptions {
  url: string;
  logger: Logger;
  /** The service publishing (recorded on each event). */
  service: string;
  exchange?: string;
  /** An existing connection to share (a service's own queues and its events on one socket). */
  connection?: AmqpConnection;
}

export interface Subscription {
  /** Durable queue name; one per consuming service so replicas share the work. */
  queue: string;
  /** Topic patterns, e.g. ["file.*", "idme.verified"]. */
  bindings: string[];
  handler: (event: DomainEvent) => Promise<void>;
}

/**
 * Domain events over one durable RabbitMQ topic exchange: persistent messages with publisher
 * confirms, durable consumer queues with a dead-letter queue, manual acks.
 */
export class EventBus {
  readonly connection: AmqpConnection;
  private readonly exchange: string;
  private readonly ownsConnection: boolean;

  constructor(private readonly options: EventBusOptions) {
    this.exchange = options.exchange ?? DEFAULT_EVENTS_EXCHANGE;
    this.ownsConnection = !options.connection;
    this.connection =
      options.connection ?? new AmqpConnection(options.url, options.logger, { name: `${options.service}-events` });
  }

  async start(): Promise<void> {
    await this.connection.addSetup(async (channel) => {
      await channel.assertExchange(this.exchange, 'topic', { durable: true });
    });
    await this.connection.getChannel();
  }

  async publish<T extends EventType>(
    type: T,
    data: EventData<T>,
    meta: { sourceAccountId: string; userId?: string | null },
  ): Promise<DomainEvent<T>> {
    const event: DomainEvent<T> = {
      id: randomUUID(),
      type,
      source: this.options.service,
      sourceAccountId: meta.sourceAccountId,
      userId: meta.userId ?? null,
      occurredAt: new Date().toISOString(),
      requestId: getRequestId() ?? null,
      data,
    };
    const channel = await this.connection.getChannel();
    await publishConfirmed(channel, this.exchange, type, Buffer.from(JSON.stringify(event)), {
      messageId: event.id,
      contentType: 'application/json',
      headers: event.requestId ? { 'x-request-id': event.requestId } : {},
    });
    return event;
  }

  async subscribe(subscription: Subscription): Promise<void> {
    const dlq = `${subscription.queue}.dead`;
    await this.connection.addSetup(async (channel) => {
      await channel.assertExchange(this.exchange, 'topic', { durable: true });
      await channel.assertQueue(dlq, { durable: true });
      await channel.assertQueue(subscription.queue, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq },
      });
      for (const pattern of subscription.bindings) {
        await channel.bindQueue(subscription.queue, this.exchange, pattern);
      }
      await channel.consume(subscription.queue, (message) => {
        if (message) void this.handle(message, subscription, channel);
      });
    });
  }

  private async handle(
    message: ConsumeMessage,
    subscription: Subscription,
    channel: Awaited<ReturnType<AmqpConnection['getChannel']>>,
  ): Promise<void> {
    let event: DomainEvent;
    try {
      event = JSON.parse(message.content.toString('utf8')) as DomainEvent;
    } catch {
      this.options.logger.error({ queue: subscription.queue }, 'undecodable event sent to dead-letter queue');
      channel.nack(message, false, false);
      return;
    }
    await runWithRequestId(event.requestId ?? event.id, async () => {
      try {
        await subscription.handler(event);
        channel.ack(message);
      } catch (error) {
        // A redelivered message that fails again goes to the dead-letter queue instead of looping.
        const requeue = !message.fields.redelivered;
        this.options.logger.error({ err: error, eventType: event.type, eventId: event.id, requeue }, 'event handler failed');
        channel.nack(message, false, requeue);
      }
    });
  }

  async check(): Promise<void> {
    if (!this.connection.isConnected()) throw new Error('not connected to RabbitMQ');
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }
}
