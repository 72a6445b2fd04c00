import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { AmqpConnection, publishConfirmed } from '@nself/events';
import { getRequestId, runWithRequestId, type Logger } from '@nself/logging';
import { randomUUID } from 'node:crypto';
import type { DeliverMessage } from '../domain/types.js';

export interface QueueNames {
  deliver: string;
  dead: string;
  wait: string;
  retry(attempt: number): string;
  retryQueues: string[];
}

/**
 * The RabbitMQ topology (all durable, default exchange):
 *  - <prefix>.deliver: batches of notification ids to deliver; rejected (poison) messages dead-letter to .dead
 *  - <prefix>.retry.<n>: one delay queue per retry number; messages carry a per-message TTL (backoff
 *    with jitter) and dead-letter back into .deliver when it expires. One queue per retry number keeps
 *    the TTLs in a queue close together, so head-of-line expiry does not hold short delays behind long ones.
 *  - <prefix>.wait: the same for "another worker holds this claim; look again when its lease ends"
 *  - <prefix>.dead: the dead-letter queue: what failed its last attempt, with the error in headers
 */
export function queueNames(prefix: string, maxAttempts: number): QueueNames {
  const retries = Math.max(1, maxAttempts - 1);
  const retry = (attempt: number) => `${prefix}.retry.${Math.min(Math.max(1, attempt), retries)}`;
  return {
    deliver: `${prefix}.deliver`,
    dead: `${prefix}.dead`,
    wait: `${prefix}.wait`,
    retry,
    retryQueues: Array.from({ length: retries }, (_, i) => retry(i + 1)),
  };
}

export interface ConsumeContext {
  redelivered: boolean;
}

export type DeliverHandler = (message: DeliverMessage, context: ConsumeContext) => Promise<void>;

function isDeliverMessage(value: unknown): value is DeliverMessage {
  const v = value as DeliverMessage;
  return (
    Boolean(v) &&
    v.v === 1 &&
    Array.isArray(v.ids) &&
    v.ids.every((id) => typeof id === 'string' && /^[0-9a-f-]{36}$/i.test(id)) &&
    (v.attempts === null || Number.isInteger(v.attempts))
  );
}

/** Publishing (with confirms) and consuming the notification queues over one self-healing connection. */
export class NotificationQueue {
  readonly names: QueueNames;
  private consumerTag: string | undefined;
  private consumerChannel: ConfirmChannel | undefined;
  private consuming = false;
  private inflight = 0;
  private readonly idleWaiters: (() => void)[] = [];

  constructor(
    readonly connection: AmqpConnection,
    private readonly options: { prefix: string; maxAttempts: number; logger: Logger; publishTimeoutMs: number },
  ) {
    this.names = queueNames(options.prefix, options.maxAttempts);
  }

  private async assertTopology(channel: ConfirmChannel): Promise<void> {
    const { deliver, dead, wait, retryQueues } = this.names;
    await channel.assertQueue(dead, { durable: true });
    await channel.assertQueue(deliver, {
      durable: true,
      arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dead },
    });
    for (const queue of [...retryQueues, wait]) {
      await channel.assertQueue(queue, {
        durable: true,
        arguments: { 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': deliver },
      });
    }
  }

  /** Declares the topology (again after every reconnect) and waits for the first connection. */
  async start(): Promise<void> {
    await this.connection.addSetup((channel) => this.assertTopology(channel));
    await this.connection.getChannel();
  }

  private async publish(queue: string, body: Buffer, properties: Parameters<typeof publishConfirmed>[4]): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`RabbitMQ did not confirm within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([
        (async () => publishConfirmed(await this.connection.getChannel(), '', queue, body, properties))(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  private encode(ids: string[], reason: DeliverMessage['reason'], attempts: number | null): Buffer {
    const message: DeliverMessage = { v: 1, ids, reason, attempts };
    return Buffer.from(JSON.stringify(message));
  }

  private properties(extra: Record<string, unknown> = {}) {
    const requestId = getRequestId();
    return {
      persistent: true,
      contentType: 'application/json',
      messageId: randomUUID(),
      headers: { ...(requestId ? { 'x-request-id': requestId } : {}), ...extra },
    };
  }

  /** One persistent, confirmed message carrying a batch of ids for immediate delivery. */
  async publishDeliver(ids: string[], reason: DeliverMessage['reason'] = 'new'): Promise<void> {
    if (!ids.length) return;
    await this.publish(this.names.deliver, this.encode(ids, reason, 0), this.properties());
  }

  /** The outbox relay's messages: rows that were committed but never published, whatever their attempt. */
  async publishRelay(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.publish(this.names.deliver, this.encode(ids, 'relay', null), this.properties());
  }

  /** Re-offers rows whose claim expired (their worker died): the claim treats them as in doubt. */
  async publishExpiredClaims(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.publish(this.names.deliver, this.encode(ids, 'relay', null), this.properties());
  }

  /** Delivers again after delayMs, through the delay queue of that retry number (TTL + dead-lettering). */
  async publishRetry(id: string, attempts: number, delayMs: number): Promise<void> {
    await this.publish(this.names.retry(attempts), this.encode([id], 'retry', attempts), {
      ...this.properties(),
      expiration: String(Math.max(1, Math.round(delayMs))),
    });
  }

  async publishWait(ids: string[], delayMs: number): Promise<void> {
    await this.publish(this.names.wait, this.encode(ids, 'wait', null), {
      ...this.properties(),
      expiration: String(Math.max(1, Math.round(delayMs))),
    });
  }

  /** Puts a finally failed notification on the dead-letter queue, with its error and attempts. */
  async publishDead(id: string, details: { error: string; attempts: number; provider: string | null; channel: string }): Promise<void> {
    await this.publish(this.names.dead, this.encode([id], 'new', details.attempts), {
      ...this.properties({
        'x-notification-id': id,
        'x-error': details.error.slice(0, 1000),
        'x-attempts': details.attempts,
        'x-provider': details.provider ?? '',
        'x-channel': details.channel,
        'x-failed-at': new Date().toISOString(),
      }),
    });
  }

  /** Consumes .deliver with manual acks (prefetch is the connection's); re-registered after reconnects. */
  async consume(handler: DeliverHandler): Promise<void> {
    this.consuming = true;
    await this.connection.addSetup(async (channel) => {
      if (!this.consuming) return;
      await this.assertTopology(channel);
      const { consumerTag } = await channel.consume(
        this.names.deliver,
        (message) => {
          if (message) void this.onMessage(channel, message, handler);
        },
        { noAck: false },
      );
      this.consumerTag = consumerTag;
      this.consumerChannel = channel;
    });
  }

  private async onMessage(channel: ConfirmChannel, message: ConsumeMessage, handler: DeliverHandler): Promise<void> {
    this.inflight += 1;
    const headers = message.properties.headers ?? {};
    const requestId = typeof headers['x-request-id'] === 'string' ? headers['x-request-id'] : message.properties.messageId;
    try {
      let body: unknown;
      try {
        body = JSON.parse(message.content.toString('utf8'));
      } catch {
        body = undefined;
      }
      if (!isDeliverMessage(body)) {
        this.options.logger.error({ queue: this.names.deliver }, 'undecodable queue message dead-lettered');
        this.settle(channel, () => channel.nack(message, false, false));
        return;
      }
      await runWithRequestId(String(requestId ?? randomUUID()), () =>
        handler(body as DeliverMessage, { redelivered: message.fields.redelivered }),
      );
      this.settle(channel, () => channel.ack(message));
    } catch (error) {
      // Infrastructure trouble (database down, broker confirm lost): give it back after a pause; the
      // claim in Postgres keeps the redelivery from sending anything twice.
      this.options.logger.error({ err: error }, 'delivery batch failed; requeueing');
      await new Promise((r) => setTimeout(r, 1000));
      this.settle(channel, () => channel.nack(message, false, true));
    } finally {
      this.inflight -= 1;
      if (this.inflight === 0) this.idleWaiters.splice(0).forEach((resolve) => resolve());
    }
  }

  /** Acks on a channel that died since the delivery throw; RabbitMQ then redelivers, which is safe. */
  private settle(_channel: ConfirmChannel, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not settle a message (channel closed); it will be redelivered');
    }
  }

  /** Stops taking new messages and waits (bounded) for the ones in hand to be settled. */
  async stopConsuming(timeoutMs = 10_000): Promise<void> {
    this.consuming = false;
    if (this.consumerTag && this.consumerChannel) {
      await this.consumerChannel.cancel(this.consumerTag).catch(() => undefined);
    }
    if (this.inflight > 0) {
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise((resolve) => setTimeout(resolve, timeoutMs).unref()),
      ]);
    }
  }

  async depths(): Promise<Record<string, number>> {
    const channel = await this.connection.getChannel();
    const result: Record<string, number> = {};
    const { deliver, dead, wait, retryQueues } = this.names;
    for (const [key, queue] of [['deliver', deliver], ['dead', dead], ['wait', wait]] as const) {
      result[key] = (await channel.checkQueue(queue)).messageCount;
    }
    let retrying = 0;
    for (const queue of retryQueues) retrying += (await channel.checkQueue(queue)).messageCount;
    result.retry = retrying;
    return result;
  }

  async check(): Promise<void> {
    if (!this.connection.isConnected()) throw new Error('not connected to RabbitMQ');
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}
