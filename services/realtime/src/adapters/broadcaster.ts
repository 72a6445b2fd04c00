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
}

export interface InterServerEvents {
  [CLUSTER_EVENT]: (command: ClusterCommand) => void;
}

export function ioBroadcaster<SocketData>(
  io: Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>,
  handleLocally: (command: ClusterCommand) => Promise<void>,
): Broadcaster {
  return {
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
}
