import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import amqp, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import type { Logger } from '@nself/logging';

export type ChannelSetup = (channel: ConfirmChannel) => Promise<void>;

/**
 * One AMQP connection that comes back by itself: after a broker restart or a network cut it reconnects
 * with backoff, opens a fresh confirm channel and runs every registered setup again (topology,
 * consumers). amqplib itself never reconnects.
 */
export class AmqpConnection extends EventEmitter {
  private connection: ChannelModel | undefined;
  private channel: ConfirmChannel | undefined;
  private readonly setups: ChannelSetup[] = [];
  private closing = false;
  private connecting: Promise<ConfirmChannel> | undefined;
  private attempt = 0;

  constructor(
    private readonly url: string,
    private readonly logger: Logger,
    private readonly options: { prefetch?: number; name?: string } = {},
  ) {
    super();
  }

  /** Registers topology/consumer setup, run now (if connected) and after every reconnect. */
  async addSetup(setup: ChannelSetup): Promise<void> {
    this.setups.push(setup);
    if (this.channel) await setup(this.channel);
  }

  /** The live confirm channel, waiting for a (re)connection when there is none. */
  async getChannel(): Promise<ConfirmChannel> {
    if (this.channel) return this.channel;
    if (this.closing) throw new Error('AMQP connection is closed');
    this.connecting ??= this.connectLoop().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  isConnected(): boolean {
    return Boolean(this.channel);
  }

  async close(): Promise<void> {
    this.closing = true;
    const connection = this.connection;
    this.channel = undefined;
    this.connection = undefined;
    if (connection) await connection.close().catch(() => undefined);
  }

  private async connectLoop(): Promise<ConfirmChannel> {
    for (;;) {
      if (this.closing) throw new Error('AMQP connection is closed');
      try {
        return await this.connectOnce();
      } catch (error) {
        this.attempt += 1;
        const delay = Math.min(10_000, 200 * 2 ** Math.min(this.attempt, 6));
        this.logger.warn({ err: error, attempt: this.attempt, delayMs: delay }, 'AMQP connect failed, retrying');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  private async connectOnce(): Promise<ConfirmChannel> {
    const connection = await amqp.connect(this.url, {
      clientProperties: { connection_name: this.options.name ?? 'nself' },
    });
    const socket = (connection.connection as { stream?: Writable }).stream;
    if (socket) coalesceWrites(socket);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.prefetch(this.options.prefetch ?? 50);
      for (const setup of this.setups) await setup(channel);
      connection.on('error', (error) => this.logger.warn({ err: error }, 'AMQP connection error'));
      connection.on('close', () => this.onLost(connection));
      channel.on('error', (error) => this.logger.warn({ err: error }, 'AMQP channel error'));
      channel.on('close', () => this.onLost(connection));
      this.connection = connection;
      this.channel = channel;
      this.attempt = 0;
      this.emit('connected');
      return channel;
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  private onLost(connection: ChannelModel): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.channel = undefined;
    void connection.close().catch(() => undefined);
    if (this.closing) return;
    this.logger.warn('AMQP connection lost, reconnecting');
    this.emit('disconnected');
    void this.getChannel().catch((error) => this.logger.error({ err: error }, 'AMQP reconnect gave up'));
  }
}

/**
 * amqplib writes every frame to the socket on its own (a publish, an ack and the next publish of the
 * same moment are one write syscall each, and on loopback each write also wakes the broker). Corking
 * the socket at the first write of a tick and uncorking it on the next tick sends whatever amqplib
 * wrote meanwhile as one writev; nothing waits longer than the current tick.
 */
export function coalesceWrites(socket: Writable): void {
  const write = socket.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  socket.write = function coalescedWrite(this: Writable, ...args: Parameters<Writable['write']>) {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write.apply(this, args);
  } as Writable['write'];
}

/** Publishes persistently and waits for the broker's confirm. */
export async function publishConfirmed(
  channel: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Buffer,
  options: amqp.Options.Publish = {},
): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    channel.publish(exchange, routingKey, body, { persistent: true, ...options }, (error) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(),
    );
  });
}
