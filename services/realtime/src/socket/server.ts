import type { Server as HttpServer } from 'node:http';
import { Server, type Socket } from 'socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import { z } from 'zod';
import type { Authenticator, Principal } from '@nself/auth';
import { AppError, Errors, fieldErrorsFromZod } from '@nself/errors';
import type { Logger } from '@nself/logging';
import type {
  AckError,
  ClientToServerEvents,
  RoomInfo,
  RoomJoinResult,
  RoomRole,
  ServerToClientEvents,
} from '@nself/realtime-client/contracts';
import { CLUSTER_EVENT, ioBroadcaster, type Broadcaster, type ClusterCommand, type InterServerEvents } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import type { Redis } from '../adapters/redis.js';
import type { RealtimeState, ReapedSocket } from '../adapters/state.js';
import type { RealtimeConfig } from '../config.js';
import { rooms as roomNames } from '../keys.js';
import type { RealtimeMetrics } from '../metrics.js';
import {
  deleteMessageInput,
  historyInput,
  sendMessageInput,
  updateMessageInput,
  type MessagesService,
} from '../use-cases/messages.js';
import { userIdsInput, type PresenceService } from '../use-cases/presence.js';
import type { CachedRoom, RoomsService } from '../use-cases/rooms.js';
import { typingInput, type TypingService } from '../use-cases/typing.js';
import { authenticateHandshake, clientAddress, handshakeError, handshakeToken, readDevice } from './handshake.js';
import { TokenBucket } from './rate-limit.js';

interface JoinedRoom {
  room: CachedRoom;
  role: RoomRole | null;
}

/** Per-socket state, on this replica only (shared state lives in Redis). */
export interface SocketData {
  principal: Principal;
  expiresAt: number | null;
  ip: string;
  userAgent: string;
  device: Record<string, unknown>;
  joined: Map<string, JoinedRoom>;
  /** Created on first use (most sockets never type or subscribe): memory per connection matters. */
  typing?: Map<string, { roomId: string; threadId: string | null }>;
  presenceSubs?: Set<string>;
  latencyMs: number | null;
  pingSentAt: number;
  lastActivityWrite: number;
  ready: Promise<void>;
  expiryTimer?: NodeJS.Timeout;
  events: TokenBucket;
  messages: TokenBucket;
}

type IoServer = Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;
type IoSocket = Socket<ClientToServerEvents, ServerToClientEvents, InterServerEvents, SocketData>;

export interface SocketServerDeps {
  config: RealtimeConfig;
  logger: Logger;
  authenticator: Authenticator;
  state: RealtimeState;
  rooms: RoomsService;
  messages: MessagesService;
  presence: PresenceService;
  typing: TypingService;
  db: DbWriter;
  metrics: RealtimeMetrics;
  pubClient: Redis;
  subClient: Redis;
}

const MAX_PRESENCE_SUBSCRIPTIONS = 1000;
const READY: Promise<void> = Promise.resolve();

function expire(socket: IoSocket): void {
  socket.emit('error', { code: 'TOKEN_EXPIRED', message: 'The token expired; reconnect with a new one (or use auth:refresh before expiry)' });
  socket.disconnect(true);
}
const MAX_TIMER_MS = 2 ** 31 - 1;
const anyPayload = z.unknown();
const pingInput = z
  .object({ ts: z.number().optional(), latencyMs: z.number().min(0).max(600_000).optional() })
  .default({});
const refreshInput = z.object({ token: z.string().min(1).max(8192) });
const roomRefInput = z.object({ roomId: z.string().min(1).max(255) });
const joinInput = z.object({
  roomId: z.string().min(1).max(255),
  sinceSeq: z.number().int().min(0).optional(),
  history: z.number().int().min(0).max(1000).optional(),
});

async function waitUntil(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
}

export function toAckError(error: unknown): AckError {
  if (error instanceof AppError) {
    return {
      code: error.code,
      message: error.message,
      ...(error.extra.errors ? { details: error.extra.errors.map(({ field, message }) => ({ field, message })) } : {}),
      ...(error.extra.retryAfterSeconds !== undefined ? { retryAfterMs: Math.ceil(error.extra.retryAfterSeconds * 1000) } : {}),
    };
  }
  return { code: 'INTERNAL_ERROR', message: 'An unexpected error occurred' };
}

function roomInfo(room: CachedRoom): RoomInfo {
  return {
    id: room.id,
    name: room.name,
    type: room.type,
    visibility: room.visibility,
    description: room.description,
    maxMembers: room.maxMembers,
    ownerId: room.ownerId,
    metadata: room.metadata,
    createdAt: room.createdAt,
  };
}

export interface RealtimeSocketServer {
  io: IoServer;
  broadcaster: Broadcaster;
  /** Re-registers every local socket in Redis (after this replica was wrongly reaped). */
  reRegister(): Promise<void>;
  /** Applies what a reaper cleaned up for a dead replica (user:left, presence). */
  applyReaped(reaped: ReapedSocket[]): Promise<void>;
  localSockets(): IoSocket[];
  /** Disconnects every local socket and waits for their cleanup. */
  drain(): Promise<void>;
  pendingCleanups(): number;
}

/**
 * The Socket.IO side: handshake auth, one handler per client event (zod-validated, rate-limited,
 * acknowledged with {ok, data | error}), connection lifecycle and the cluster commands.
 */
/**
 * `bind` receives the broadcaster before any connection is accepted: the use cases emit through it,
 * and it needs the Socket.IO server, so they are wired in that order.
 */
export function createSocketServer(
  httpServer: HttpServer,
  deps: SocketServerDeps,
  bind: (broadcaster: Broadcaster) => void,
): RealtimeSocketServer {
  const { config, logger, state, db, metrics } = deps;
  const env = config.env;
  const instanceId = config.instanceId;
  const cleanups = new Set<Promise<unknown>>();
  /** Engine.IO socket → our socket data, for the shared ping/pong listeners. */
  const engineSockets = new WeakMap<object, SocketData>();
  // Activity is written at most this often per socket (not on every message: Redis stays cheap per
  // message); well under the away timeout, so an away user's next action always reaches Redis.
  const activityWriteMs = Math.min(60_000, Math.floor(env.REALTIME_AWAY_AFTER_MS / 3));
  const cors = config.corsOrigins.length
    ? { origin: config.corsOrigins.includes('*') ? true : config.corsOrigins, credentials: !config.corsOrigins.includes('*') }
    : undefined;

  const io: IoServer = new Server(httpServer, {
    path: '/socket.io',
    transports: env.REALTIME_TRANSPORTS,
    pingInterval: env.REALTIME_PING_INTERVAL,
    pingTimeout: env.REALTIME_PING_TIMEOUT,
    maxHttpBufferSize: env.REALTIME_MAX_PAYLOAD_BYTES,
    serveClient: false,
    cors,
    adapter: createAdapter(deps.pubClient, deps.subClient, { key: state.keys.adapter, requestsTimeout: 5000 }),
  });

  const broadcaster = ioBroadcaster(io, (command) => handleCommand(command), state.keys.adapter);
  bind(broadcaster);

  const track = <T>(promise: Promise<T>): Promise<T> => {
    cleanups.add(promise);
    void promise.finally(() => cleanups.delete(promise)).catch(() => undefined);
    return promise;
  };

  // ---- handshake ------------------------------------------------------------------------------

  io.use(async (socket, next) => {
    try {
      if (io.engine.clientsCount > env.REALTIME_MAX_CONNECTIONS) {
        metrics.connectionsRefused.inc({ reason: 'SERVER_FULL' });
        throw Errors.unavailable('This server is at its connection limit', 'SERVER_FULL');
      }
      const headers = socket.handshake.headers;
      const { principal, expiresAt } = await authenticateHandshake(
        deps.authenticator,
        handshakeToken(socket.handshake.auth, headers),
        env.REALTIME_ALLOW_ANONYMOUS,
      );
      socket.data = {
        principal,
        expiresAt,
        ip: clientAddress(socket.handshake.address, headers),
        userAgent: String(headers['user-agent'] ?? '').slice(0, 512),
        device: readDevice((socket.handshake.auth as { device?: unknown } | undefined)?.device),
        joined: new Map(),
        latencyMs: null,
        pingSentAt: 0,
        lastActivityWrite: 0,
        ready: READY,
        events: new TokenBucket(env.REALTIME_EVENT_RATE, env.REALTIME_EVENT_BURST),
        messages: new TokenBucket(env.REALTIME_MESSAGE_RATE, env.REALTIME_MESSAGE_BURST),
      };
      next();
    } catch (error) {
      const refused = handshakeError(error);
      if (refused.data.code !== 'SERVER_FULL') metrics.connectionsRefused.inc({ reason: refused.data.code });
      if (!(error instanceof AppError)) logger.error({ err: error }, 'handshake failed');
      next(refused);
    }
  });

  // ---- lifecycle --------------------------------------------------------------------------------

  io.on('connection', (socket) => {
    const data = socket.data;
    const { principal } = data;
    const account = principal.sourceAccountId;
    const userId = principal.userId;
    if (userId) void socket.join(roomNames.user(account, userId));
    engineSockets.set(socket.conn, data);
    socket.conn.on('packetCreate', onPacketCreate);
    socket.conn.on('packet', onPacket);
    scheduleExpiry(socket);

    // Events are accepted right away; each handler waits for this registration. `connected` is sent
    // once the connection is registered, so whatever the client does next (and whatever other replicas
    // read, e.g. its presence) already sees it.
    data.ready = track(register(socket)).then(
      () => {
        data.ready = READY;
        greet(socket);
      },
      (error: unknown) => {
        data.ready = READY;
        logger.error({ err: error, socketId: socket.id }, 'connection registration failed');
        greet(socket);
      },
    );
    // One shared listener for every client event and one for disconnect: no closures per socket.
    socket.onAny(onClientEvent);
    socket.on('disconnect', onDisconnect);
  });

  function greet(socket: IoSocket): void {
    const { principal, expiresAt } = socket.data;
    if (!socket.connected) return;
    socket.emit('connected', {
      socketId: socket.id,
      instanceId,
      serverTime: new Date().toISOString(),
      pingIntervalMs: env.REALTIME_PING_INTERVAL,
      pingTimeoutMs: env.REALTIME_PING_TIMEOUT,
      limits: {
        maxMessageBytes: env.REALTIME_MAX_MESSAGE_BYTES,
        messagesPerSecond: env.REALTIME_MESSAGE_RATE,
        maxRoomsPerSocket: env.REALTIME_MAX_ROOMS_PER_SOCKET,
      },
    });
    socket.emit('authenticated', {
      userId: principal.userId,
      sourceAccountId: principal.sourceAccountId,
      roles: principal.roles,
      anonymous: principal.via === 'anonymous',
      expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
    });
  }

  function onDisconnect(this: IoSocket, reason: string): void {
    clearTimeout(this.data.expiryTimer);
    void track(unregister(this, reason)).catch((error: unknown) => {
      logger.error({ err: error, socketId: this.id }, 'connection cleanup failed');
    });
  }

  async function register(socket: IoSocket): Promise<void> {
    const data = socket.data;
    const { principal } = data;
    const transport = socket.conn.transport.name;
    const transition = await state.connect(
      {
        socketId: socket.id,
        account: principal.sourceAccountId,
        userId: principal.userId,
        instanceId,
        connectedAt: Date.now(),
        ip: data.ip,
        userAgent: data.userAgent,
        transport,
      },
      data.device,
    );
    db.connected({
      account: principal.sourceAccountId,
      socketId: socket.id,
      userId: principal.userId,
      transport,
      ipAddress: data.ip,
      userAgent: data.userAgent,
      device: data.device,
      connectedAt: new Date(),
    });
    db.logEvent({
      account: principal.sourceAccountId,
      eventType: 'connect',
      socketId: socket.id,
      userId: principal.userId,
      ipAddress: data.ip,
      payload: { transport, device: data.device },
    });
    await deps.presence.transitioned(transition);
  }

  async function unregister(socket: IoSocket, reason: string): Promise<void> {
    const data = socket.data;
    await data.ready;
    const { principal } = data;
    const account = principal.sourceAccountId;
    for (const entry of data.typing?.values() ?? []) {
      if (principal.userId) {
        await deps.typing.stop({ account, roomId: entry.roomId, threadId: entry.threadId, userId: principal.userId }, 'disconnected');
      }
    }
    data.typing?.clear();
    const result = await state.disconnect(socket.id, instanceId, account, principal.userId);
    db.disconnected(socket.id, reason);
    db.logEvent({ account, eventType: 'disconnect', socketId: socket.id, userId: principal.userId, ipAddress: data.ip, payload: { reason } });
    if (!result) return;
    if (principal.userId) {
      for (const roomId of result.leftRooms) {
        broadcaster.emit([roomNames.room(account, roomId)], 'user:left', { roomId, userId: principal.userId, reason: 'disconnected' });
      }
    }
    await deps.presence.transitioned(result.presence);
  }

  /** Latency from Engine.IO's own ping/pong (server ping written → client pong read); shared listeners. */
  // These run for every packet a socket sends or receives: the type is checked before the lookup.
  function onPacketCreate(this: object, packet: { type: string }): void {
    if (packet.type !== 'ping') return;
    const data = engineSockets.get(this);
    if (data) data.pingSentAt = performance.now();
  }

  function onPacket(this: object, packet: { type: string }): void {
    if (packet.type !== 'pong') return;
    const data = engineSockets.get(this);
    if (data?.pingSentAt) data.latencyMs = Math.round(performance.now() - data.pingSentAt);
  }

  function scheduleExpiry(socket: IoSocket): void {
    const data = socket.data;
    clearTimeout(data.expiryTimer);
    if (!env.REALTIME_DISCONNECT_ON_TOKEN_EXPIRY || !data.expiresAt) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, data.expiresAt - Date.now()));
    data.expiryTimer = setTimeout(expire, delay, socket);
    data.expiryTimer.unref();
  }

  async function noteActivity(socket: IoSocket): Promise<void> {
    const { principal } = socket.data;
    if (!principal.userId) return;
    const now = Date.now();
    if (now - socket.data.lastActivityWrite < activityWriteMs) return;
    socket.data.lastActivityWrite = now;
    if (await state.recordActivity(principal.sourceAccountId, principal.userId)) {
      await deps.presence.publish(principal.sourceAccountId, principal.userId);
    }
  }

  // ---- client events ------------------------------------------------------------------------------

  interface Handler {
    schema: z.ZodType;
    message?: boolean;
    user?: boolean;
    activity?: boolean;
    run: (socket: IoSocket, input: unknown) => Promise<unknown>;
  }
  const handlers = new Map<string, Handler>();

  function define<S extends z.ZodType>(
    event: keyof ClientToServerEvents,
    schema: S,
    options: { message?: boolean; user?: boolean; activity?: boolean },
    run: (socket: IoSocket, input: z.output<S>) => Promise<unknown>,
  ): void {
    handlers.set(event, { schema, ...options, run: run as Handler['run'] });
  }

  /** Per-socket view used by the handlers. */
  function ctx(socket: IoSocket) {
    const data = socket.data;
    return { data, account: data.principal.sourceAccountId, principal: () => data.principal };
  }

  /** The one listener (socket.onAny) for every client event: rate limit, validate, run, acknowledge. */
  function onClientEvent(this: IoSocket, event: string, ...args: unknown[]): void {
    void dispatch(this, event, args);
  }

  async function dispatch(socket: IoSocket, event: string, args: unknown[]): Promise<void> {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (response: unknown) => void) : undefined;
    const payload = ack ? (args.length > 1 ? args[0] : undefined) : args[0];
    const handler = handlers.get(event);
    metrics.clientEventRate.mark();
    const label = handler ? event : 'unknown';
    try {
      if (!handler) throw Errors.badRequest('UNKNOWN_EVENT', `Unknown event "${event.slice(0, 64)}"`);
      const wait = socket.data.events.take() || (handler.message ? socket.data.messages.take() : 0);
      if (wait) throw Errors.tooManyRequests(wait / 1000);
      if (handler.user && !socket.data.principal.userId) {
        throw Errors.forbidden('Anonymous connections are read-only', 'ANONYMOUS_READ_ONLY');
      }
      const parsed = handler.schema.safeParse(payload);
      if (!parsed.success) throw Errors.validation(fieldErrorsFromZod(parsed.error));
      await socket.data.ready;
      const data = await handler.run(socket, parsed.data);
      metrics.clientEvents.inc({ event: label, outcome: 'ok' });
      ack?.({ ok: true, data });
      if (handler.activity) void noteActivity(socket).catch(() => undefined);
    } catch (error) {
      const ackError = toAckError(error);
      metrics.clientEvents.inc({ event: label, outcome: ackError.code });
      if (ackError.code === 'INTERNAL_ERROR') logger.error({ err: error, event: label, socketId: socket.id }, 'client event failed');
      if (ack) ack({ ok: false, error: ackError });
      else socket.emit('error', { ...ackError, event: event.slice(0, 64) });
    }
  }

  function joinedRoom(socket: IoSocket, idOrName: string): JoinedRoom {
    const joined = socket.data.joined.get(idOrName) ?? [...socket.data.joined.values()].find((j) => j.room.name === idOrName);
    if (!joined) throw Errors.forbidden('Join the room first', 'NOT_IN_ROOM');
    return joined;
  }

  async function leaveLocal(socket: IoSocket, roomId: string, reason: 'left' | 'kicked' | 'banned' | 'deleted'): Promise<void> {
    const { principal, joined, typing } = socket.data;
    const account = principal.sourceAccountId;
    if (!joined.delete(roomId)) return;
    await socket.leave(roomNames.room(account, roomId));
    for (const [key, entry] of typing ?? []) {
      if (entry.roomId !== roomId || !principal.userId) continue;
      typing!.delete(key);
      await deps.typing.stop({ account, roomId, threadId: entry.threadId, userId: principal.userId }, 'left');
    }
    const remaining = await state.leaveRoom(socket.id, account, roomId, principal.userId);
    if (remaining === 0 && principal.userId && reason !== 'deleted') {
      broadcaster.emit([roomNames.room(account, roomId)], 'user:left', { roomId, userId: principal.userId, reason });
    }
    if (reason !== 'left') socket.emit('room:left', { roomId, reason });
    db.logEvent({ account, eventType: 'room:leave', socketId: socket.id, userId: principal.userId, roomId, payload: { reason } });
  }

  function defineHandlers(): void {
    define('room:join', joinInput, { activity: true }, async (socket, input): Promise<RoomJoinResult> => {
      const { data, account, principal } = ctx(socket);
      const existing = data.joined.get(input.roomId) ?? [...data.joined.values()].find((j) => j.room.name === input.roomId);
      if (!existing && data.joined.size >= env.REALTIME_MAX_ROOMS_PER_SOCKET) {
        throw Errors.forbidden(`A connection may be in at most ${env.REALTIME_MAX_ROOMS_PER_SOCKET} rooms`, 'TOO_MANY_ROOMS');
      }
      const { room, role } = existing ?? (await deps.rooms.authorizeJoin(principal(), input.roomId));
      const key = roomNames.room(account, room.id);
      await socket.join(key);
      data.joined.set(room.id, { room, role });
      const userId = principal().userId;
      const count = await state.joinRoom(socket.id, account, room.id, userId);
      if (count === 1 && userId) {
        broadcaster.emitExcept([key], socket.id, 'user:joined', { roomId: room.id, userId, reason: 'joined' });
      }
      let since: number | null = input.sinceSeq ?? null;
      if (since === null && input.history) since = Math.max(0, (await state.lastSeq(account, room.id)) - input.history);
      const log =
        since === null
          ? { lastSeq: await state.lastSeq(account, room.id), events: [], truncated: false }
          : await deps.messages.history(account, room.id, since);
      const [online, typing] = await Promise.all([state.onlineInRoom(account, room.id), state.typingIn(account, room.id)]);
      const info = roomInfo(room);
      socket.emit('room:joined', { room: info, role, lastSeq: log.lastSeq });
      if (typing.length) socket.emit('typing:batch', { roomId: room.id, users: typing });
      if (!existing) {
        db.logEvent({ account, eventType: 'room:join', socketId: socket.id, userId, roomId: room.id, payload: { sinceSeq: input.sinceSeq ?? null } });
      }
      return { room: info, role, lastSeq: log.lastSeq, events: log.events, truncated: log.truncated, online: online.users, typing };
    });

    define('room:leave', roomRefInput, {}, async (socket, input) => {
      const { room } = joinedRoom(socket, input.roomId);
      await leaveLocal(socket, room.id, 'left');
      return { roomId: room.id };
    });

    define('room:history', historyInput, {}, async (socket, input) => {
      const { account } = ctx(socket);
      const { room } = joinedRoom(socket, input.roomId);
      return deps.messages.history(account, room.id, input.sinceSeq, input.limit);
    });

    define('message:send', sendMessageInput, { message: true, user: true, activity: true }, async (socket, input) => {
      const { data, account, principal } = ctx(socket);
      const { room, role } = joinedRoom(socket, input.roomId);
      const message = await deps.messages.send(principal(), room, role, input, socket.id);
      metrics.messages.inc();
      // Sending ends typing in that room/thread.
      const typingKey = `${room.id}|${input.threadId ?? ''}`;
      if (data.typing?.delete(typingKey) && principal().userId) {
        await deps.typing.stop(
          { account, roomId: room.id, threadId: input.threadId ?? null, userId: principal().userId! },
          'stopped',
        );
      }
      return message;
    });

    define('message:update', updateMessageInput, { message: true, user: true, activity: true }, async (socket, input) => {
      const { principal } = ctx(socket);
      const { room, role } = joinedRoom(socket, input.roomId);
      return deps.messages.update(principal(), room, role, input, socket.id);
    });

    define('message:delete', deleteMessageInput, { message: true, user: true, activity: true }, async (socket, input) => {
      const { principal } = ctx(socket);
      const { room, role } = joinedRoom(socket, input.roomId);
      return deps.messages.remove(principal(), room, role, input, socket.id);
    });

    define('typing:start', typingInput, { user: true, activity: true }, async (socket, input) => {
      const { data, account, principal } = ctx(socket);
      const { room } = joinedRoom(socket, input.roomId);
      const entry = { account, roomId: room.id, threadId: input.threadId ?? null, userId: principal().userId! };
      (data.typing ??= new Map()).set(`${room.id}|${input.threadId ?? ''}`, { roomId: room.id, threadId: entry.threadId });
      return deps.typing.start(entry, socket.id);
    });

    define('typing:stop', typingInput, { user: true }, async (socket, input) => {
      const { data, account, principal } = ctx(socket);
      const { room } = joinedRoom(socket, input.roomId);
      data.typing?.delete(`${room.id}|${input.threadId ?? ''}`);
      await deps.typing.stop({ account, roomId: room.id, threadId: input.threadId ?? null, userId: principal().userId! }, 'stopped', socket.id);
      return {};
    });

    define('presence:update', anyPayload, { user: true, activity: true }, async (socket, input) => {
      const { account, principal } = ctx(socket);
      const presence = await deps.presence.update(principal(), input);
      db.logEvent({ account, eventType: 'presence:update', socketId: socket.id, userId: principal().userId, payload: { status: presence.status } });
      return presence;
    });

    define('presence:subscribe', userIdsInput, {}, async (socket, input) => {
      const { data, account } = ctx(socket);
      const subs = (data.presenceSubs ??= new Set());
      const fresh = input.userIds.filter((id) => !subs.has(id));
      if (subs.size + fresh.length > MAX_PRESENCE_SUBSCRIPTIONS) {
        throw Errors.badRequest('TOO_MANY_SUBSCRIPTIONS', `At most ${MAX_PRESENCE_SUBSCRIPTIONS} presence subscriptions per connection`);
      }
      for (const id of fresh) subs.add(id);
      await socket.join(fresh.map((id) => roomNames.presence(account, id)));
      const presences = await deps.presence.get(account, input.userIds);
      socket.emit('presence:bulk', { presences });
      return { presences };
    });

    define('presence:unsubscribe', userIdsInput, {}, async (socket, input) => {
      const { data, account } = ctx(socket);
      for (const id of input.userIds) {
        if (data.presenceSubs?.delete(id)) await socket.leave(roomNames.presence(account, id));
      }
      return {};
    });

    define('presence:get', userIdsInput, {}, async (socket, input) => ({
      presences: await deps.presence.get(socket.data.principal.sourceAccountId, input.userIds),
    }));

    define('ping', pingInput, {}, async (socket, input) => {
      const { data } = ctx(socket);
      if (input.latencyMs !== undefined) data.latencyMs = Math.round(input.latencyMs);
      const pong = { ts: input.ts ?? null, serverTime: Date.now() };
      socket.emit('pong', pong);
      return pong;
    });

    define('auth:refresh', refreshInput, {}, async (socket, input) => {
      const { data, account, principal } = ctx(socket);
      const { principal: next, expiresAt } = await authenticateHandshake(deps.authenticator, input.token, false);
      const current = principal();
      if (next.userId !== current.userId || next.sourceAccountId !== current.sourceAccountId) {
        throw Errors.forbidden('The new token is for a different user or app', 'IDENTITY_MISMATCH');
      }
      data.principal = next;
      data.expiresAt = expiresAt;
      scheduleExpiry(socket);
      db.logEvent({ account, eventType: 'auth:refresh', socketId: socket.id, userId: next.userId });
      return { expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null };
    });
  }

  defineHandlers();

  // ---- cluster -------------------------------------------------------------------------------------

  async function handleCommand(command: ClusterCommand): Promise<void> {
    if (command.type !== 'leave-room') return;
    const key = roomNames.room(command.account, command.roomId);
    const ids = io.of('/').adapter.rooms.get(key);
    if (!ids) return;
    for (const id of [...ids]) {
      const socket = io.of('/').sockets.get(id) as IoSocket | undefined;
      if (!socket) continue;
      if (command.userId !== null && socket.data.principal.userId !== command.userId) continue;
      await leaveLocal(socket, command.roomId, command.reason).catch((error: unknown) =>
        logger.error({ err: error, socketId: id }, 'cluster leave-room failed'),
      );
    }
  }

  io.on(CLUSTER_EVENT, (command: ClusterCommand) => {
    void handleCommand(command);
  });

  const localSockets = () => [...io.of('/').sockets.values()] as IoSocket[];

  return {
    io,
    broadcaster,
    localSockets,
    async reRegister() {
      for (const socket of localSockets()) {
        const { principal, joined } = socket.data;
        await register(socket);
        for (const roomId of joined.keys()) {
          const count = await state.joinRoom(socket.id, principal.sourceAccountId, roomId, principal.userId);
          if (count === 1 && principal.userId) {
            broadcaster.emitExcept([roomNames.room(principal.sourceAccountId, roomId)], socket.id, 'user:joined', {
              roomId,
              userId: principal.userId,
              reason: 'joined',
            });
          }
        }
      }
    },
    async applyReaped(reaped) {
      for (const entry of reaped) {
        db.disconnected(entry.socketId, 'instance-lost');
        if (entry.userId) {
          for (const roomId of entry.leftRooms) {
            broadcaster.emit([roomNames.room(entry.account, roomId)], 'user:left', {
              roomId,
              userId: entry.userId,
              reason: 'disconnected',
            });
          }
        }
        await deps.presence.transitioned(entry.presence);
      }
    },
    async drain() {
      // Closing the transport (rather than a Socket.IO "disconnect") makes clients reconnect by
      // themselves — through the gateway, to another replica — which a rolling restart needs.
      for (const socket of localSockets()) socket.conn.close();
      await waitUntil(() => io.of('/').sockets.size === 0, 5000);
      await Promise.allSettled([...cleanups]);
    },
    pendingCleanups: () => cleanups.size,
  };
}
