import type { Server } from 'socket.io';
import { Emitter } from '@socket.io/redis-emitter';
import type { Redis } from 'ioredis';
import type { ClientToServerEvents, ServerToClientEvents } from '@nself/realtime-client/contracts';

/** Work every replica does for its own sockets (sent through the adapter's server-side emit). */
export type ClusterCommand = {
  type: 'leave-room';
  account: string;
  roomId: string;
  /** null: every socket in the room (room deleted). */
  userId: string | null;
  reason: 'kicked' | 'banned' | 'deleted';
};

export const CLUSTER_EVENT = 'rt:cmd';

type EmitArgs<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>;

export type LogEvent = 'message:new' | 'message:update' | 'message:delete';
export type LogEntry<E extends LogEvent> = Parameters<ServerToClientEvents[E]>[0];

/**
 * A room log entry already encoded as the Redis adapter's pub/sub message, before its sequence number
 * exists: the append script (lua.APPEND) writes the number in and publishes it, so an entry costs one
 * Redis command instead of two and reaches the other replicas in sequence order.
 */
export interface LogPublication {
  channel: string;
  packet: Buffer;
  /** Where the entry's `seq` (a msgpack float64, 8 bytes big-endian) starts in `packet`. */
  seqOffset: number;
}

export interface PreparedLogBroadcast<E extends LogEvent> {
  publication: LogPublication;
  /** Emits the entry to this replica's sockets only: the other replicas get Redis' publication. */
  deliverLocally(entry: LogEntry<E>): void;
}

/** Stands in for `seq` while the entry is encoded; msgpack writes a fraction as a float64 (0xcb). */
const SEQ_PLACEHOLDER = 0.5;
const SEQ_FIELD = Buffer.from([0xa3, ...Buffer.from('seq'), 0xcb, ...new Uint8Array(new Float64Array([SEQ_PLACEHOLDER]).buffer).reverse()]);
const SEQ_VALUE_AT = 5; // after fixstr "seq" (4 bytes) and the float64 marker
const EVENT_PACKET = 2; // socket.io-parser PacketType.EVENT

/**
 * How use cases reach sockets on every replica. The service uses the Socket.IO server (its Redis
 * adapter fans out); the CLI, which has no sockets, publishes the same packets with the Redis emitter.
 */
export interface Broadcaster {
  emit<E extends keyof ServerToClientEvents>(rooms: string[], event: E, ...args: EmitArgs<E>): void;
  emitExcept<E extends keyof ServerToClientEvents>(
    rooms: string[],
    exceptSocketId: string,
    event: E,
    ...args: EmitArgs<E>
  ): void;
  command(command: ClusterCommand): Promise<void>;
  disconnectSocket(socketId: string): void;
  /**
   * Encodes a room log entry for publication by the append script (see LogPublication); undefined when
   * this broadcaster cannot (then the entry is emitted after the append, as any event).
   */
  prepareLogEntry<E extends LogEvent>(
    room: string,
    exceptSocketId: string | undefined,
    event: E,
    entryWithoutSeq: Omit<LogEntry<E>, 'seq'>,
  ): PreparedLogBroadcast<E> | undefined;
}

export interface InterServerEvents {
  [CLUSTER_EVENT]: (command: ClusterCommand) => void;
}

export function ioBroadcaster<SocketData>(
  io: Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>,
  handleLocally: (command: ClusterCommand) => Promise<void>,
  /** The Redis adapter's key: its channel for a single room is `${key}#/#${room}#`. */
  adapterKey: string,
): Broadcaster {
  return {
    prepareLogEntry(room, except, event, entryWithoutSeq) {
      // The adapter's own encoding: [its uid, the packet, the broadcast options], as its broadcast() publishes.
      const adapter = io.of('/').adapter as unknown as { uid?: string; parser?: { encode(value: unknown): Uint8Array } };
      if (!adapter.uid || typeof adapter.parser?.encode !== 'function') return undefined;
      const packet = { type: EVENT_PACKET, data: [event, { ...entryWithoutSeq, seq: SEQ_PLACEHOLDER }], nsp: '/' };
      const encoded = adapter.parser.encode([adapter.uid, packet, { rooms: [room], except: except ? [except] : [], flags: {} }]);
      const bytes = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded);
      // `seq` is the entry's last field, so the last match is it: a look-alike inside `data` comes earlier,
      // and the strings after it (room, socket id) cannot hold the marker (0xcb then 0x3f is not UTF-8).
      const at = bytes.lastIndexOf(SEQ_FIELD);
      if (at < 0) return undefined;
      return {
        publication: { channel: `${adapterKey}#/#${room}#`, packet: bytes, seqOffset: at + SEQ_VALUE_AT },
        deliverLocally(entry) {
          const local = io.local.to(room);
          (except ? local.except(except) : local).emit(event, ...([entry] as EmitArgs<typeof event>));
        },
      };
    },
    emit(rooms, event, ...args) {
      if (rooms.length) io.to(rooms).emit(event, ...args);
    },
    emitExcept(rooms, except, event, ...args) {
      if (rooms.length) io.to(rooms).except(except).emit(event, ...args);
    },
    async command(command) {
      io.serverSideEmit(CLUSTER_EVENT, command);
      await handleLocally(command);
    },
    disconnectSocket(socketId) {
      io.in(socketId).disconnectSockets(true);
    },
  };
}

export function emitterBroadcaster(redis: Redis, adapterKey: string): Broadcaster {
  const emitter = new Emitter<ServerToClientEvents>(redis, { key: adapterKey });
  return {
    prepareLogEntry: () => undefined,
    emit(rooms, event, ...args) {
      if (rooms.length) emitter.to(rooms).emit(event, ...args);
    },
    emitExcept(rooms, except, event, ...args) {
      if (rooms.length) emitter.to(rooms).except(except).emit(event, ...args);
    },
    async command(command) {
      emitter.serverSideEmit(CLUSTER_EVENT, command);
    },
    disconnectSocket(socketId) {
      emitter.in(socketId).disconnectSockets(true);
    },
  };
}

/** Stands in until the real broadcaster exists (the use cases are built before the Socket.IO server). */
export class DeferredBroadcaster implements Broadcaster {
  private target: Broadcaster | undefined;

  bind(target: Broadcaster): void {
    this.target = target;
  }

  private get live(): Broadcaster {
    if (!this.target) throw new Error('broadcaster used before the socket server was created');
    return this.target;
  }

  emit<E extends keyof ServerToClientEvents>(rooms: string[], event: E, ...args: EmitArgs<E>): void {
    this.live.emit(rooms, event, ...args);
  }

  emitExcept<E extends keyof ServerToClientEvents>(rooms: string[], except: string, event: E, ...args: EmitArgs<E>): void {
    this.live.emitExcept(rooms, except, event, ...args);
  }

  command(command: ClusterCommand): Promise<void> {
    return this.live.command(command);
  }

  disconnectSocket(socketId: string): void {
    this.live.disconnectSocket(socketId);
  }

  prepareLogEntry<E extends LogEvent>(
    room: string,
    exceptSocketId: string | undefined,
    event: E,
    entryWithoutSeq: Omit<LogEntry<E>, 'seq'>,
  ): PreparedLogBroadcast<E> | undefined {
    return this.live.prepareLogEntry(room, exceptSocketId, event, entryWithoutSeq);
  }
}
