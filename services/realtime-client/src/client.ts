import { io, type ManagerOptions, type Socket, type SocketOptions } from 'socket.io-client';
import type {
  Ack,
  AckError,
  AuthenticatedPayload,
  ChatMessage,
  ClientToServerEvents,
  ConnectedPayload,
  MessageDeleted,
  MessageSendRequest,
  MessageUpdated,
  Presence,
  PresenceUpdateRequest,
  RoomHistoryResult,
  RoomJoinResult,
  RoomLogEntry,
  ServerToClientEvents,
} from './contracts.js';
import { RoomSequencer } from './sequencer.js';

/** An error ack, a refused handshake or a timeout, with the server's stable code. */
export class RealtimeError extends Error {
  readonly code: string;
  readonly details?: AckError['details'];
  readonly retryAfterMs?: number;

  constructor(error: AckError) {
    super(error.message);
    this.name = 'RealtimeError';
    this.code = error.code;
    this.details = error.details;
    this.retryAfterMs = error.retryAfterMs;
  }
}

export type TokenSource = string | (() => string | Promise<string>);

export interface RealtimeClientOptions {
  /** Base URL of the gateway (or of one realtime replica), e.g. "https://api.example.com". */
  url: string;
  /** Socket.IO path: "/realtime/socket.io" through the gateway (default), "/socket.io" direct. */
  path?: string;
  /** A JWT, or a function returning a fresh one (called on every connect and reconnect). */
  token?: TokenSource;
  /** Device details stored with the connection (platform, app version, …). */
  device?: Record<string, string | number | boolean>;
  /**
   * Default ["websocket"]: works through any number of replicas without sticky sessions. Add "polling"
   * only behind a gateway with sticky routing (the nself gateway has it) or for a single replica.
   */
  transports?: ('websocket' | 'polling')[];
  /** How long an acknowledgement may take (ms). */
  ackTimeoutMs?: number;
  /** How long an out-of-order message waits for the missing ones before history is fetched (ms). */
  gapTimeoutMs?: number;
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
  /** Connect when constructed (default false: call connect()). */
  autoConnect?: boolean;
  /** Anything else for socket.io-client (extraHeaders, withCredentials, …). */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

/** Events the client emits to listeners (message events are sequenced: in order, exactly once per room). */
export type RealtimeClientEvents = {
  [E in keyof ServerToClientEvents]: Parameters<ServerToClientEvents[E]>[0];
} & {
  connect: { socketId: string };
  disconnect: { reason: string };
  /** After a reconnect, once every room was re-joined and what was missed has been delivered. */
  resumed: { rooms: string[]; instanceId: string | null };
  connect_error: RealtimeError;
  /** Messages that could not be recovered (trimmed from the server's history before the resume). */
  gap: { roomId: string; afterSeq: number; toSeq: number };
  /** A room could not be re-joined after a reconnect (banned, removed, deleted …). */
  'rejoin:error': { roomId: string; error: RealtimeError };
};

type Listener<T> = (payload: T) => void;

interface RoomState {
  roomId: string;
  sequencer: RoomSequencer | null;
  /** Entries that arrived before the join ack. */
  early: RoomLogEntry[];
  joining: Promise<RoomJoinResult> | null;
}

const SEQUENCED = ['message:new', 'message:update', 'message:delete'] as const;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Typed client for the nself realtime service. Join rooms, send, type, set presence; on reconnect it
 * re-joins every room from the last sequence it saw and delivers what it missed, in order, exactly once.
 */
export class RealtimeClient {
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly listeners = new Map<string, Set<Listener<never>>>();
  private readonly rooms = new Map<string, RoomState>();
  private readonly presenceSubscriptions = new Set<string>();
  private readonly ackTimeoutMs: number;
  private readonly gapTimeoutMs: number;
  private connectedInfo: ConnectedPayload | null = null;
  private authInfo: AuthenticatedPayload | null = null;
  private everConnected = false;

  constructor(private readonly options: RealtimeClientOptions) {
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
    this.gapTimeoutMs = options.gapTimeoutMs ?? 500;
    const token = options.token;
    this.socket = io(options.url, {
      path: options.path ?? '/realtime/socket.io',
      transports: options.transports ?? ['websocket'],
      autoConnect: false,
      reconnectionDelay: options.reconnectionDelayMs ?? 500,
      reconnectionDelayMax: options.reconnectionDelayMaxMs ?? 5000,
      ...options.socketOptions,
      auth: (cb: (data: object) => void) => {
        const device = options.device ? { device: options.device } : {};
        if (token === undefined) return cb(device);
        void Promise.resolve(typeof token === 'function' ? token() : token).then(
          (value) => cb({ token: value, ...device }),
          () => cb(device),
        );
      },
    });
    this.wire();
    if (options.autoConnect) this.socket.connect();
  }

  // ---- events ----------------------------------------------------------------------------------

  /** Subscribes; returns the unsubscribe function. */
  on<E extends keyof RealtimeClientEvents>(event: E, listener: Listener<RealtimeClientEvents[E]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => set.delete(listener as Listener<never>);
  }

  once<E extends keyof RealtimeClientEvents>(event: E, listener: Listener<RealtimeClientEvents[E]>): () => void {
    const off = this.on(event, (payload) => {
      off();
      listener(payload);
    });
    return off;
  }

  private fire<E extends keyof RealtimeClientEvents>(event: E, payload: RealtimeClientEvents[E]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as Listener<RealtimeClientEvents[E]>)(payload);
      } catch (error) {
        console.error(`realtime-client: a "${event}" listener threw`, error);
      }
    }
  }

  private wire(): void {
    const socket = this.socket;
    socket.on('connect', () => {
      this.fire('connect', { socketId: socket.id ?? '' });
      if (this.everConnected) void this.resume();
      this.everConnected = true;
    });
    socket.on('disconnect', (reason) => this.fire('disconnect', { reason }));
    socket.on('connect_error', (error) => {
      const data = (error as Error & { data?: { code?: string; message?: string } }).data;
      this.fire('connect_error', new RealtimeError({ code: data?.code ?? 'CONNECT_FAILED', message: data?.message ?? error.message }));
    });
    socket.on('connected', (payload) => {
      this.connectedInfo = payload;
      this.fire('connected', payload);
    });
    socket.on('authenticated', (payload) => {
      this.authInfo = payload;
      this.fire('authenticated', payload);
    });
    for (const event of SEQUENCED) {
      socket.on(event, (payload: RoomLogEntry['payload']) => this.sequenced({ event, payload } as RoomLogEntry));
    }
    socket.on('room:left', (payload) => {
      this.dropRoom(payload.roomId);
      this.fire('room:left', payload);
    });
    const passthrough = [
      'room:joined',
      'user:joined',
      'user:left',
      'typing:event',
      'typing:batch',
      'presence:changed',
      'presence:bulk',
      'domain:event',
      'pong',
      'error',
    ] as const;
    const untyped = socket as unknown as { on(event: string, listener: (payload: unknown) => void): void };
    for (const event of passthrough) {
      untyped.on(event, (payload) => this.fire(event, payload as never));
    }
  }

  private sequenced(entry: RoomLogEntry): void {
    const room = this.rooms.get(entry.payload.roomId);
    if (!room) return;
    if (room.sequencer) room.sequencer.accept(entry);
    else room.early.push(entry);
  }

  private deliver(entry: RoomLogEntry): void {
    this.fire(entry.event, entry.payload as never);
  }

  // ---- connection ----------------------------------------------------------------------------------

  /** Connects and resolves once the server has accepted the handshake; rejects with its refusal code. */
  connect(): Promise<ConnectedPayload> {
    return new Promise((resolve, reject) => {
      const offs = [
        this.once('connected', (payload) => {
          offs.forEach((off) => off());
          resolve(payload);
        }),
        this.once('connect_error', (error) => {
          offs.forEach((off) => off());
          // A refused handshake is final; transport errors are retried by socket.io itself.
          if (error.code !== 'CONNECT_FAILED') this.socket.disconnect();
          reject(error);
        }),
      ];
      this.socket.connect();
    });
  }

  disconnect(): void {
    this.socket.disconnect();
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** The replica this connection landed on (from the `connected` event). */
  get instanceId(): string | null {
    return this.connectedInfo?.instanceId ?? null;
  }

  get user(): AuthenticatedPayload | null {
    return this.authInfo;
  }

  /** Joined rooms and the last sequence delivered in each. */
  get joinedRooms(): { roomId: string; lastSeq: number }[] {
    return [...this.rooms.values()].map((r) => ({ roomId: r.roomId, lastSeq: r.sequencer?.lastSeq ?? 0 }));
  }

  private async request<E extends keyof ClientToServerEvents, T>(event: E, payload: unknown): Promise<T> {
    let response: Ack<T>;
    try {
      const timed = this.socket.timeout(this.ackTimeoutMs) as unknown as {
        emitWithAck(event: string, payload: unknown): Promise<Ack<T>>;
      };
      response = await timed.emitWithAck(event, payload);
    } catch {
      throw new RealtimeError({ code: 'TIMEOUT', message: `No answer to ${event} within ${this.ackTimeoutMs} ms` });
    }
    if (!response.ok) throw new RealtimeError(response.error);
    return response.data;
  }

  // ---- rooms ---------------------------------------------------------------------------------------

  /**
   * Joins a room (id or name). `history` asks for the last N log entries, delivered as events before
   * the promise resolves. The room is re-joined automatically after every reconnect.
   */
  async join(roomId: string, options: { history?: number } = {}): Promise<RoomJoinResult> {
    const existing = this.rooms.get(roomId);
    if (existing?.joining) return existing.joining;
    // Joining by id: a placeholder catches messages that overtake the join acknowledgement.
    const placeholder: RoomState | undefined =
      !existing && UUID.test(roomId) ? { roomId, sequencer: null, early: [], joining: null } : undefined;
    if (placeholder) this.rooms.set(roomId, placeholder);
    let result: RoomJoinResult;
    try {
      result = await this.request<'room:join', RoomJoinResult>('room:join', {
        roomId,
        ...(existing?.sequencer ? { sinceSeq: existing.sequencer.lastSeq } : options.history ? { history: options.history } : {}),
      });
    } catch (error) {
      if (placeholder && this.rooms.get(roomId) === placeholder) this.rooms.delete(roomId);
      throw error;
    }
    const id = result.room.id;
    let room = this.rooms.get(id);
    if (!room) {
      room = { roomId: id, sequencer: null, early: [], joining: null };
      this.rooms.set(id, room);
    }
    this.startSequence(room, result);
    return result;
  }

  private startSequence(room: RoomState, result: RoomJoinResult): void {
    if (!room.sequencer) {
      const start = result.events.length ? result.events[0]!.payload.seq - 1 : result.lastSeq;
      room.sequencer = new RoomSequencer(
        start,
        {
          deliver: (entry) => this.deliver(entry),
          fill: (sinceSeq) => void this.fill(room.roomId, sinceSeq),
          lost: (afterSeq, toSeq) => this.fire('gap', { roomId: room.roomId, afterSeq, toSeq }),
        },
        this.gapTimeoutMs,
      );
    }
    room.sequencer.applyHistory(result.events, result.truncated);
    const early = room.early;
    room.early = [];
    for (const entry of early) room.sequencer.accept(entry);
  }

  private async fill(roomId: string, sinceSeq: number): Promise<void> {
    const room = this.rooms.get(roomId);
    if (!room?.sequencer) return;
    try {
      const result = await this.request<'room:history', RoomHistoryResult>('room:history', { roomId, sinceSeq });
      room.sequencer.applyHistory(result.events, result.truncated);
    } catch {
      // The next reconnect or gap retries.
    }
  }

  async leave(roomId: string): Promise<void> {
    await this.request('room:leave', { roomId });
    this.dropRoom(roomId);
  }

  private dropRoom(roomId: string): void {
    const room = this.rooms.get(roomId) ?? [...this.rooms.values()].find((r) => r.roomId === roomId);
    room?.sequencer?.dispose();
    if (room) this.rooms.delete(room.roomId);
  }

  /** Everything after sinceSeq that the server still keeps. */
  history(roomId: string, sinceSeq: number, limit?: number): Promise<RoomHistoryResult> {
    return this.request('room:history', { roomId, sinceSeq, ...(limit ? { limit } : {}) });
  }

  private async resume(): Promise<void> {
    const rooms = [...this.rooms.values()];
    await Promise.all(
      rooms.map(async (room) => {
        const sinceSeq = room.sequencer?.lastSeq ?? 0;
        room.joining = this.request<'room:join', RoomJoinResult>('room:join', { roomId: room.roomId, sinceSeq });
        try {
          const result = await room.joining;
          this.startSequence(room, result);
        } catch (error) {
          this.dropRoom(room.roomId);
          const realtimeError = error instanceof RealtimeError ? error : new RealtimeError({ code: 'INTERNAL_ERROR', message: String(error) });
          this.fire('rejoin:error', { roomId: room.roomId, error: realtimeError });
        } finally {
          room.joining = null;
        }
      }),
    );
    if (this.presenceSubscriptions.size) {
      await this.request('presence:subscribe', { userIds: [...this.presenceSubscriptions] }).catch(() => undefined);
    }
    this.fire('resumed', { rooms: [...this.rooms.keys()], instanceId: this.instanceId });
  }

  // ---- messages --------------------------------------------------------------------------------------

  /** Sends to a joined room; resolves with the stored message (server id, sequence, timestamp). */
  async send(
    roomId: string,
    content: string,
    options: Omit<MessageSendRequest, 'roomId' | 'content'> = {},
  ): Promise<ChatMessage> {
    const message = await this.request<'message:send', ChatMessage>('message:send', { roomId, content, ...options });
    this.sequenced({ event: 'message:new', payload: message });
    return message;
  }

  async updateMessage(roomId: string, messageId: string, change: { content?: string; data?: Record<string, unknown> }): Promise<MessageUpdated> {
    const updated = await this.request<'message:update', MessageUpdated>('message:update', { roomId, messageId, ...change });
    this.sequenced({ event: 'message:update', payload: updated });
    return updated;
  }

  async deleteMessage(roomId: string, messageId: string): Promise<MessageDeleted> {
    const deleted = await this.request<'message:delete', MessageDeleted>('message:delete', { roomId, messageId });
    this.sequenced({ event: 'message:delete', payload: deleted });
    return deleted;
  }

  // ---- typing and presence ------------------------------------------------------------------------------

  startTyping(roomId: string, threadId?: string): Promise<{ expiresAt: string }> {
    return this.request('typing:start', { roomId, ...(threadId ? { threadId } : {}) });
  }

  async stopTyping(roomId: string, threadId?: string): Promise<void> {
    await this.request('typing:stop', { roomId, ...(threadId ? { threadId } : {}) });
  }

  setPresence(change: PresenceUpdateRequest): Promise<Presence> {
    return this.request('presence:update', change);
  }

  async subscribePresence(userIds: string[]): Promise<Presence[]> {
    const { presences } = await this.request<'presence:subscribe', { presences: Presence[] }>('presence:subscribe', { userIds });
    for (const id of userIds) this.presenceSubscriptions.add(id);
    return presences;
  }

  async unsubscribePresence(userIds: string[]): Promise<void> {
    await this.request('presence:unsubscribe', { userIds });
    for (const id of userIds) this.presenceSubscriptions.delete(id);
  }

  async getPresence(userIds: string[]): Promise<Presence[]> {
    const { presences } = await this.request<'presence:get', { presences: Presence[] }>('presence:get', { userIds });
    return presences;
  }

  /** Measures the round trip (ms) and reports the previous one to the server for connection tracking. */
  async ping(): Promise<number> {
    const started = Date.now();
    await this.request('ping', { ts: started, ...(this.lastLatency !== null ? { latencyMs: this.lastLatency } : {}) });
    this.lastLatency = Date.now() - started;
    return this.lastLatency;
  }

  private lastLatency: number | null = null;

  /** Hands the server a new token before the current one expires (no reconnect). */
  refreshToken(token: string): Promise<{ expiresAt: string | null }> {
    return this.request('auth:refresh', { token });
  }
}

export function createRealtimeClient(options: RealtimeClientOptions): RealtimeClient {
  return new RealtimeClient(options);
}
