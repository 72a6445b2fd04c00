import { z } from 'zod';
import type { Principal } from '@nself/auth';
import { AppError, Errors, parseInput } from '@nself/errors';
import type {
  ChatMessage,
  MessageDeleted,
  MessageUpdated,
  RoomHistoryResult,
  RoomLogEntry,
  RoomRole,
  ServerToClientEvents,
} from '@nself/realtime-client/contracts';
import type { Broadcaster, LogEntry, LogEvent, LogPublication } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import type { RealtimeState } from '../adapters/state.js';
import { uuidv7 } from '../ids.js';
import { rooms as roomNames } from '../keys.js';
import type { CachedRoom, RoomsService } from './rooms.js';

const jsonObject = z.record(z.string(), z.unknown());
const threadId = z.string().min(1).max(255);

export const sendMessageInput = z.object({
  roomId: z.string().min(1).max(255),
  content: z.string().max(1_000_000),
  type: z.string().min(1).max(50).regex(/^[a-z][a-z0-9_.-]*$/i).default('text'),
  threadId: threadId.optional(),
  data: jsonObject.optional(),
  clientMessageId: z.string().min(1).max(128).optional(),
});

export const updateMessageInput = z
  .object({
    roomId: z.string().min(1).max(255),
    messageId: z.string().min(1).max(64),
    content: z.string().max(1_000_000).optional(),
    data: jsonObject.optional(),
  })
  .refine((v) => v.content !== undefined || v.data !== undefined, { message: 'Give content or data' });

export const deleteMessageInput = z.object({
  roomId: z.string().min(1).max(255),
  messageId: z.string().min(1).max(64),
});

export const historyInput = z.object({
  roomId: z.string().min(1).max(255),
  sinceSeq: z.number().int().min(0),
  limit: z.number().int().min(1).max(1000).optional(),
});

export const broadcastInput = z.object({
  content: z.string().max(1_000_000).default(''),
  type: z.string().min(1).max(50).regex(/^[a-z][a-z0-9_.-]*$/i).default('system'),
  data: jsonObject.optional(),
  threadId: threadId.optional(),
});

export interface MessagesOptions {
  maxMessageBytes: number;
  historySize: number;
  /** Event types written to the event log. */
  logMessages: boolean;
}

export interface MessagesDeps {
  state: RealtimeState;
  rooms: RoomsService;
  broadcaster: Broadcaster;
  db?: DbWriter;
}

/** The room log: messages, edits and deletions get a per-room sequence number and are kept (bounded) in Redis. */
export class MessagesService {
  constructor(
    private readonly deps: MessagesDeps,
    private readonly options: MessagesOptions,
  ) {}

  private assertSize(content: string | undefined, data: Record<string, unknown> | undefined): void {
    const bytes = Buffer.byteLength(content ?? '') + (data ? Buffer.byteLength(JSON.stringify(data)) : 0);
    if (bytes > this.options.maxMessageBytes) {
      throw Errors.payloadTooLarge(`The message is ${bytes} bytes; the limit is ${this.options.maxMessageBytes}`);
    }
  }

  /** Appends to the log; a member's send is refused when banned, muted or no longer a member. */
  private async append(
    account: string,
    roomId: string,
    userId: string | null,
    event: RoomLogEntry['event'],
    body: Record<string, unknown>,
    publication: LogPublication | undefined,
  ): Promise<{ seq: number; now: number }> {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const result = await this.deps.state.append(account, roomId, userId, event, body, publication);
      if (result.ok) {
        this.deps.db?.roomSequence(roomId, result.seq, new Date(result.now));
        return result;
      }
      switch (result.reason) {
        case 'LOAD':
          await this.deps.rooms.member(account, roomId, userId!);
          continue;
        case 'NOT_A_MEMBER':
          throw Errors.forbidden('You are not a member of this room', 'NOT_A_MEMBER');
        case 'BANNED':
          throw Errors.forbidden('You are banned from this room', 'BANNED');
        case 'MUTED':
          throw new AppError('MUTED', 403, `You are muted in this room until ${new Date(result.until).toISOString()}`);
      }
    }
    throw Errors.unavailable('Room membership could not be loaded');
  }

  async send(
    principal: Principal,
    room: CachedRoom,
    role: RoomRole | null,
    input: z.output<typeof sendMessageInput>,
    socketId?: string,
  ): Promise<ChatMessage> {
    this.assertSize(input.content, input.data);
    if (room.type === 'broadcast' && role !== 'owner' && role !== 'admin' && !principal.isAdmin) {
      throw Errors.forbidden('Only the owner or admins may post in a broadcast room');
    }
    const body = {
      id: uuidv7(),
      roomId: room.id,
      senderId: principal.userId,
      type: input.type,
      content: input.content,
      data: input.data ?? null,
      threadId: input.threadId ?? null,
      clientMessageId: input.clientMessageId ?? null,
      createdAt: new Date().toISOString(),
    };
    // Admins without a membership row (private rooms) are not checked against one.
    const checkAs = role === null && principal.isAdmin ? null : principal.userId;
    const message = await this.record(principal.sourceAccountId, room.id, checkAs, 'message:new', body, socketId);
    if (this.options.logMessages) {
      this.deps.db?.logEvent({
        account: principal.sourceAccountId,
        eventType: 'message:send',
        socketId,
        userId: principal.userId,
        roomId: room.id,
        payload: { messageId: message.id, seq: message.seq, type: message.type, bytes: Buffer.byteLength(message.content) },
      });
    }
    return message;
  }

  /**
   * Appends an entry to the room's log and delivers it to every socket in the room except the one that
   * made it: that socket gets the entry in its acknowledgement (the SDK sequences it from there), so it
   * is encoded and written once. The author's other devices in the room still receive it. When the
   * broadcaster can, the append script publishes the entry to the other replicas itself.
   */
  private async record<E extends LogEvent>(
    account: string,
    roomId: string,
    checkAs: string | null,
    event: E,
    body: Omit<LogEntry<E>, 'seq'>,
    authorSocketId: string | undefined,
  ): Promise<LogEntry<E>> {
    const room = roomNames.room(account, roomId);
    const prepared = this.deps.broadcaster.prepareLogEntry(room, authorSocketId, event, body);
    const { seq } = await this.append(account, roomId, checkAs, event, body, prepared?.publication);
    const entry = { ...body, seq } as LogEntry<E>;
    if (prepared) prepared.deliverLocally(entry);
    else if (authorSocketId) this.deps.broadcaster.emitExcept([room], authorSocketId, event, ...([entry] as Parameters<ServerToClientEvents[E]>));
    else this.deps.broadcaster.emit([room], event, ...([entry] as Parameters<ServerToClientEvents[E]>));
    return entry;
  }

  private async authorizeChange(principal: Principal, room: CachedRoom, role: RoomRole | null, messageId: string): Promise<void> {
    const found = await this.deps.state.findMessage(principal.sourceAccountId, room.id, messageId);
    if (!found) throw Errors.notFound('Message', 'MESSAGE_NOT_FOUND');
    const moderator = principal.isAdmin || role === 'owner' || role === 'admin';
    if (!moderator && found.senderId !== principal.userId) {
      throw Errors.forbidden('Only the author or a room moderator may change this message');
    }
  }

  async update(
    principal: Principal,
    room: CachedRoom,
    role: RoomRole | null,
    input: z.output<typeof updateMessageInput>,
    socketId?: string,
  ): Promise<MessageUpdated> {
    this.assertSize(input.content, input.data);
    await this.authorizeChange(principal, room, role, input.messageId);
    const body = {
      id: input.messageId,
      roomId: room.id,
      content: input.content ?? null,
      data: input.data ?? null,
      editedBy: principal.userId,
      editedAt: new Date().toISOString(),
    };
    const checkAs = role === null && principal.isAdmin ? null : principal.userId;
    return this.record(principal.sourceAccountId, room.id, checkAs, 'message:update', body, socketId);
  }

  async remove(
    principal: Principal,
    room: CachedRoom,
    role: RoomRole | null,
    input: z.output<typeof deleteMessageInput>,
    socketId?: string,
  ): Promise<MessageDeleted> {
    await this.authorizeChange(principal, room, role, input.messageId);
    const body = { id: input.messageId, roomId: room.id, deletedBy: principal.userId, deletedAt: new Date().toISOString() };
    const checkAs = role === null && principal.isAdmin ? null : principal.userId;
    return this.record(principal.sourceAccountId, room.id, checkAs, 'message:delete', body, socketId);
  }

  /** What a resuming client missed: every kept log entry after sinceSeq. */
  history(account: string, roomId: string, sinceSeq: number, limit?: number): Promise<RoomHistoryResult> {
    return this.deps.state.history(account, roomId, sinceSeq, Math.min(limit ?? this.options.historySize, 1000) || 1);
  }

  /** REST broadcast from another service (admin): a system message in the room's log. */
  async broadcast(principal: Principal, idOrName: string, input: unknown): Promise<ChatMessage> {
    if (!principal.isAdmin) throw Errors.forbidden('Admin role or admin secret required', 'ADMIN_REQUIRED');
    const data = parseInput(broadcastInput, input);
    const room = await this.deps.rooms.require(principal.sourceAccountId, idOrName);
    const system: Principal = { ...principal, userId: null };
    return this.send(system, room, null, { ...data, roomId: room.id });
  }
}
