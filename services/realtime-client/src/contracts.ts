/**
 * The Socket.IO contract of the nself realtime service, shared by the server (services/realtime) and
 * this SDK. Types only plus a few constants, so importing it costs a browser bundle nothing.
 *
 * Every client→server event takes one payload object and an acknowledgement callback that receives
 * `{ ok: true, data }` or `{ ok: false, error: { code, message } }`.
 */

export const PRESENCE_STATUSES = ['online', 'away', 'busy', 'offline'] as const;
export type PresenceStatus = (typeof PRESENCE_STATUSES)[number];
/** What a client may set; `offline` only comes from having no connection left. */
export const SETTABLE_PRESENCE_STATUSES = ['online', 'away', 'busy'] as const;
export type SettablePresenceStatus = (typeof SETTABLE_PRESENCE_STATUSES)[number];

export const ROOM_TYPES = ['channel', 'group', 'direct', 'broadcast'] as const;
export type RoomType = (typeof ROOM_TYPES)[number];
export const ROOM_VISIBILITIES = ['public', 'private'] as const;
export type RoomVisibility = (typeof ROOM_VISIBILITIES)[number];
export const ROOM_ROLES = ['owner', 'admin', 'member'] as const;
export type RoomRole = (typeof ROOM_ROLES)[number];

/** Stable error codes carried by error acks, `error` events and `connect_error.data.code`. */
export const ERROR_CODES = [
  'VALIDATION_FAILED',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'UNAUTHORIZED',
  'INVALID_TOKEN',
  'TOKEN_EXPIRED',
  'IDENTITY_MISMATCH',
  'SERVER_FULL',
  'ANONYMOUS_READ_ONLY',
  'ROOM_NOT_FOUND',
  'NOT_A_MEMBER',
  'NOT_IN_ROOM',
  'BANNED',
  'MUTED',
  'ROOM_FULL',
  'TOO_MANY_ROOMS',
  'FORBIDDEN',
  'MESSAGE_NOT_FOUND',
  'TIMEOUT',
  'DISCONNECTED',
  'INTERNAL_ERROR',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number] | (string & {});

export interface AckError {
  code: ErrorCode;
  message: string;
  /** Field errors for VALIDATION_FAILED. */
  details?: { field: string; message: string }[];
  /** For RATE_LIMITED: when the next attempt can succeed. */
  retryAfterMs?: number;
}

export type Ack<T> = { ok: true; data: T } | { ok: false; error: AckError };
export type AckCallback<T> = (response: Ack<T>) => void;

export interface RoomInfo {
  id: string;
  name: string;
  type: RoomType;
  visibility: RoomVisibility;
  description: string | null;
  maxMembers: number | null;
  ownerId: string | null;
  metadata: Record<string, unknown>;
  createdAt: string;
}

export interface ChatMessage {
  /** Server-assigned id (UUIDv7). */
  id: string;
  roomId: string;
  /** Per-room sequence number, shared by message:new/update/delete: gap-free and strictly increasing. */
  seq: number;
  /** null for system messages (REST broadcast). */
  senderId: string | null;
  /** "text" by default; "system" for broadcasts; anything else the app defines. */
  type: string;
  content: string;
  data: Record<string, unknown> | null;
  threadId: string | null;
  /** Echo of the sender's own id for optimistic UIs. */
  clientMessageId: string | null;
  createdAt: string;
}

export interface MessageUpdated {
  /** The message that changed. */
  id: string;
  roomId: string;
  seq: number;
  content: string | null;
  data: Record<string, unknown> | null;
  editedBy: string | null;
  editedAt: string;
}

export interface MessageDeleted {
  id: string;
  roomId: string;
  seq: number;
  deletedBy: string | null;
  deletedAt: string;
}

/** One entry of a room's sequenced log (what a resume replays). */
export type RoomLogEntry =
  | { event: 'message:new'; payload: ChatMessage }
  | { event: 'message:update'; payload: MessageUpdated }
  | { event: 'message:delete'; payload: MessageDeleted };

export interface Presence {
  userId: string;
  status: PresenceStatus;
  statusText: string | null;
  statusEmoji: string | null;
  /** Live connections (devices/tabs) of the user across all replicas. */
  connections: number;
  lastActiveAt: string | null;
  updatedAt: string | null;
}

export interface TypingUser {
  userId: string;
  threadId: string | null;
  expiresAt: string;
}

export interface TypingEvent {
  roomId: string;
  threadId: string | null;
  userId: string;
  isTyping: boolean;
  reason: 'started' | 'stopped' | 'expired' | 'disconnected' | 'left';
  expiresAt: string | null;
}

export interface TypingBatch {
  roomId: string;
  users: TypingUser[];
}

/** A domain event (file.processed, job.failed, …) relayed from the event bus to its user. */
export interface RelayedEvent {
  id: string;
  type: string;
  source: string;
  occurredAt: string;
  data: unknown;
}

// ---- client → server payloads -------------------------------------------------------------------

export interface RoomJoinRequest {
  /** Room id (UUID) or room name. */
  roomId: string;
  /** Resume: the last sequence the client saw; the ack carries every later log entry still kept. */
  sinceSeq?: number;
  /** Without sinceSeq: how many recent log entries to return (default 0). */
  history?: number;
}

export interface RoomJoinResult {
  room: RoomInfo;
  role: RoomRole | null;
  /** The room's latest sequence number at join time. */
  lastSeq: number;
  /** Log entries after sinceSeq (or the last `history`), in order. */
  events: RoomLogEntry[];
  /** True when the kept history no longer reaches back to sinceSeq + 1 (entries were trimmed). */
  truncated: boolean;
  /** Users with at least one socket in the room (at most 500). */
  online: string[];
  typing: TypingUser[];
}

export interface RoomRef {
  roomId: string;
}

export interface RoomHistoryRequest {
  roomId: string;
  sinceSeq: number;
  limit?: number;
}

export interface RoomHistoryResult {
  lastSeq: number;
  events: RoomLogEntry[];
  truncated: boolean;
}

export interface MessageSendRequest {
  roomId: string;
  content: string;
  type?: string;
  threadId?: string;
  data?: Record<string, unknown>;
  clientMessageId?: string;
}

export interface MessageUpdateRequest {
  roomId: string;
  messageId: string;
  content?: string;
  data?: Record<string, unknown>;
}

export interface MessageDeleteRequest {
  roomId: string;
  messageId: string;
}

export interface TypingRequest {
  roomId: string;
  threadId?: string;
}

export interface PresenceUpdateRequest {
  status?: SettablePresenceStatus;
  statusText?: string | null;
  statusEmoji?: string | null;
}

export interface UserIdsRequest {
  userIds: string[];
}

export interface PingRequest {
  /** Client clock (ms) echoed in the pong. */
  ts?: number;
  /** The round trip the client measured last time, recorded on the connection. */
  latencyMs?: number;
}

export interface AuthRefreshRequest {
  token: string;
}

export interface ConnectedPayload {
  socketId: string;
  instanceId: string;
  serverTime: string;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  limits: { maxMessageBytes: number; messagesPerSecond: number; maxRoomsPerSocket: number };
}

export interface AuthenticatedPayload {
  userId: string | null;
  sourceAccountId: string;
  roles: string[];
  anonymous: boolean;
  expiresAt: string | null;
}

export interface UserRoomEvent {
  roomId: string;
  userId: string;
  reason?: 'joined' | 'left' | 'disconnected' | 'kicked' | 'banned' | 'deleted';
}

export interface RoomLeftEvent {
  roomId: string;
  reason: 'left' | 'kicked' | 'banned' | 'deleted';
}

export interface PongPayload {
  ts: number | null;
  serverTime: number;
}

export interface ErrorEvent extends AckError {
  /** The client event that caused it, when the client sent it without an ack callback. */
  event?: string;
}

export interface ClientToServerEvents {
  'room:join': (payload: RoomJoinRequest, ack: AckCallback<RoomJoinResult>) => void;
  'room:leave': (payload: RoomRef, ack: AckCallback<{ roomId: string }>) => void;
  'room:history': (payload: RoomHistoryRequest, ack: AckCallback<RoomHistoryResult>) => void;
  'message:send': (payload: MessageSendRequest, ack: AckCallback<ChatMessage>) => void;
  'message:update': (payload: MessageUpdateRequest, ack: AckCallback<MessageUpdated>) => void;
  'message:delete': (payload: MessageDeleteRequest, ack: AckCallback<MessageDeleted>) => void;
  'typing:start': (payload: TypingRequest, ack: AckCallback<{ expiresAt: string }>) => void;
  'typing:stop': (payload: TypingRequest, ack: AckCallback<Record<string, never>>) => void;
  'presence:update': (payload: PresenceUpdateRequest, ack: AckCallback<Presence>) => void;
  'presence:subscribe': (payload: UserIdsRequest, ack: AckCallback<{ presences: Presence[] }>) => void;
  'presence:unsubscribe': (payload: UserIdsRequest, ack: AckCallback<Record<string, never>>) => void;
  'presence:get': (payload: UserIdsRequest, ack: AckCallback<{ presences: Presence[] }>) => void;
  ping: (payload: PingRequest, ack: AckCallback<PongPayload>) => void;
  'auth:refresh': (payload: AuthRefreshRequest, ack: AckCallback<{ expiresAt: string | null }>) => void;
}

export interface ServerToClientEvents {
  connected: (payload: ConnectedPayload) => void;
  authenticated: (payload: AuthenticatedPayload) => void;
  'room:joined': (payload: { room: RoomInfo; role: RoomRole | null; lastSeq: number }) => void;
  'room:left': (payload: RoomLeftEvent) => void;
  'user:joined': (payload: UserRoomEvent) => void;
  'user:left': (payload: UserRoomEvent) => void;
  'message:new': (payload: ChatMessage) => void;
  'message:update': (payload: MessageUpdated) => void;
  'message:delete': (payload: MessageDeleted) => void;
  'typing:event': (payload: TypingEvent) => void;
  'typing:batch': (payload: TypingBatch) => void;
  'presence:changed': (payload: Presence) => void;
  'presence:bulk': (payload: { presences: Presence[] }) => void;
  'domain:event': (payload: RelayedEvent) => void;
  pong: (payload: PongPayload) => void;
  error: (payload: ErrorEvent) => void;
}

/** Client→server event names (for validation tables and docs). */
export const CLIENT_EVENTS = [
  'room:join',
  'room:leave',
  'room:history',
  'message:send',
  'message:update',
  'message:delete',
  'typing:start',
  'typing:stop',
  'presence:update',
  'presence:subscribe',
  'presence:unsubscribe',
  'presence:get',
  'ping',
  'auth:refresh',
] as const satisfies readonly (keyof ClientToServerEvents)[];

export const SERVER_EVENTS = [
  'connected',
  'authenticated',
  'room:joined',
  'room:left',
  'user:joined',
  'user:left',
  'message:new',
  'message:update',
  'message:delete',
  'typing:event',
  'typing:batch',
  'presence:changed',
  'presence:bulk',
  'domain:event',
  'pong',
  'error',
] as const satisfies readonly (keyof ServerToClientEvents)[];
