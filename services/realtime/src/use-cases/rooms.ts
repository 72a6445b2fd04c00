import { z } from 'zod';
import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { ROOM_ROLES, ROOM_TYPES, ROOM_VISIBILITIES, type RoomRole } from '@nself/realtime-client/contracts';
import type { Broadcaster } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import { isUuid, type Member, type Room, type RoomsRepository } from '../adapters/rooms-repo.js';
import type { CachedMember, RealtimeState } from '../adapters/state.js';
import { rooms as roomNames } from '../keys.js';

const userId = z.string().min(1).max(255);

export const createRoomInput = z.object({
  name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[^\s].*$/, 'must not start with whitespace'),
  type: z.enum(ROOM_TYPES).default('channel'),
  visibility: z.enum(ROOM_VISIBILITIES).default('public'),
  description: z.string().max(2000).nullish(),
  maxMembers: z.number().int().min(1).max(1_000_000).nullish(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  /** Admins may create a room on behalf of a user; otherwise the caller owns it. */
  ownerId: userId.optional(),
  members: z.array(userId).max(1000).default([]),
});

export const listRoomsInput = z.object({
  visibility: z.enum(ROOM_VISIBILITIES).optional(),
  type: z.enum(ROOM_TYPES).optional(),
  member: z.enum(['me']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

export const addMemberInput = z.object({
  userId,
  role: z.enum(ROOM_ROLES).exclude(['owner']).default('member'),
});

export const updateMemberInput = z
  .object({
    role: z.enum(ROOM_ROLES).exclude(['owner']).optional(),
    /** Mute for this many seconds (0 unmutes). */
    muteSeconds: z.number().int().min(0).max(366 * 24 * 3600).optional(),
    banned: z.boolean().optional(),
    banReason: z.string().max(500).nullish(),
  })
  .refine((v) => v.role !== undefined || v.muteSeconds !== undefined || v.banned !== undefined, {
    message: 'Give at least one of role, muteSeconds, banned',
  });

export const listMembersInput = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
  includeBanned: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

/** The room fields the hot path needs, cached in Redis. */
export type CachedRoom = Pick<Room, 'id' | 'name' | 'type' | 'visibility' | 'description' | 'maxMembers' | 'ownerId' | 'metadata' | 'createdAt' | 'isActive'>;

function cacheable(room: Room): CachedRoom {
  const { lastMessageSeq: _seq, lastMessageAt: _at, ...rest } = room;
  return rest;
}

export function toCachedMember(member: Member | null): CachedMember | null {
  if (!member) return null;
  return {
    role: member.role,
    banned: member.banned,
    mutedUntil: member.mutedUntil ? Date.parse(member.mutedUntil) : null,
  };
}

/** A caller is a room moderator when it is an admin, or the room's owner/admin member. */
function isModerator(principal: Principal, member: CachedMember | null): boolean {
  return principal.isAdmin || (member !== null && !member.banned && (member.role === 'owner' || member.role === 'admin'));
}

export interface RoomsDeps {
  repo: RoomsRepository;
  state: RealtimeState;
  broadcaster: Broadcaster;
  db?: DbWriter;
}

/** Rooms and memberships: durable rows in PostgreSQL, write-through caches in Redis, live effects via the broadcaster. */
export class RoomsService {
  constructor(private readonly deps: RoomsDeps) {}

  // ---- lookups (cache-through) ----------------------------------------------------------------

  /** The room by id or name (active or not), or null. Ids hit the Redis cache. */
  async find(account: string, idOrName: string): Promise<CachedRoom | null> {
    if (!isUuid(idOrName)) {
      const room = await this.deps.repo.find(account, idOrName);
      return room ? cacheable(room) : null;
    }
    const cached = await this.deps.state.cachedRoom<CachedRoom>(account, idOrName);
    if (cached !== undefined) return cached;
    const room = await this.deps.repo.find(account, idOrName);
    await this.deps.state.storeRoom(account, idOrName, room ? cacheable(room) : null, true);
    return room ? cacheable(room) : null;
  }

  async require(account: string, idOrName: string): Promise<CachedRoom> {
    const room = await this.find(account, idOrName);
    if (!room?.isActive) throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
    return room;
  }

  async member(account: string, roomId: string, user: string): Promise<CachedMember | null> {
    const cached = await this.deps.state.cachedMember(account, roomId, user);
    if (cached !== undefined) return cached;
    const member = toCachedMember(await this.deps.repo.member(account, roomId, user));
    await this.deps.state.fillMember(account, roomId, user, member);
    return member;
  }

  /** Room ids the user is a (non-banned) member of: whom their presence concerns. */
  async roomIdsOf(account: string, user: string): Promise<string[]> {
    const cached = await this.deps.state.cachedUserRooms(account, user);
    if (cached.rooms) return cached.rooms;
    const ids = await this.deps.repo.roomIdsOfUser(account, user);
    await this.deps.state.fillUserRooms(account, user, cached.version, ids);
    return ids;
  }

  // ---- socket join ----------------------------------------------------------------------------

  /**
   * Decides whether a socket of this principal may join: public rooms admit everyone not banned (and
   * make them members), private rooms only their members. Anonymous sockets may read public rooms.
   */
  async authorizeJoin(principal: Principal, idOrName: string): Promise<{ room: CachedRoom; role: RoomRole | null }> {
    const room = await this.require(principal.sourceAccountId, idOrName);
    if (!principal.userId) {
      if (room.visibility !== 'public') throw Errors.forbidden('This room is private', 'NOT_A_MEMBER');
      return { room, role: null };
    }
    const member = await this.member(principal.sourceAccountId, room.id, principal.userId);
    if (member?.banned) throw Errors.forbidden('You are banned from this room', 'BANNED');
    if (member) return { room, role: member.role };
    if (room.visibility !== 'public') {
      if (principal.isAdmin) return { room, role: null };
      throw Errors.forbidden('This room is private', 'NOT_A_MEMBER');
    }
    const { member: added } = await this.deps.repo.addMember(principal.sourceAccountId, room.id, principal.userId, 'member');
    await this.deps.state.storeMember(principal.sourceAccountId, room.id, principal.userId, toCachedMember(added));
    if (added.banned) throw Errors.forbidden('You are banned from this room', 'BANNED');
    return { room, role: added.role };
  }

  // ---- REST ------------------------------------------------------------------------------------

  async create(principal: Principal, input: unknown): Promise<{ room: Room; members: Member[] }> {
    const data = parseInput(createRoomInput, input);
    if (!principal.isAdmin && !principal.userId) throw Errors.forbidden('Anonymous callers cannot create rooms');
    if (data.ownerId && !principal.isAdmin && data.ownerId !== principal.userId) {
      throw Errors.forbidden('Only admins may create rooms for someone else');
    }
    const ownerId = data.ownerId ?? principal.userId;
    const result = await this.deps.repo.create(principal.sourceAccountId, { ...data, ownerId });
    for (const member of result.members) {
      await this.deps.state.storeMember(principal.sourceAccountId, result.room.id, member.userId, toCachedMember(member));
    }
    await this.deps.state.storeRoom(principal.sourceAccountId, result.room.id, cacheable(result.room));
    this.deps.db?.logEvent({
      account: principal.sourceAccountId,
      eventType: 'room:create',
      userId: principal.userId,
      roomId: result.room.id,
      payload: { name: result.room.name, visibility: result.room.visibility },
    });
    return result;
  }

  async list(principal: Principal, query: unknown): Promise<{ rooms: Room[]; total: number }> {
    const data = parseInput(listRoomsInput, query);
    return this.deps.repo.list(principal.sourceAccountId, {
      viewerId: principal.isAdmin && data.member !== 'me' ? undefined : principal.userId,
      memberOnly: data.member === 'me',
      visibility: data.visibility,
      type: data.type,
      limit: data.limit,
      offset: data.offset,
    });
  }

  /** A room the principal may see: public ones, private ones it belongs to, or any for admins. */
  async get(principal: Principal, idOrName: string): Promise<{ room: Room; onlineCount: number; lastSeq: number }> {
    const room = await this.deps.repo.find(principal.sourceAccountId, idOrName);
    if (!room?.isActive) throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
    await this.assertCanSee(principal, room);
    const [online, lastSeq] = await Promise.all([
      this.deps.state.onlineInRoom(principal.sourceAccountId, room.id, 0),
      this.deps.state.lastSeq(principal.sourceAccountId, room.id),
    ]);
    return { room, onlineCount: online.total, lastSeq: Math.max(lastSeq, room.lastMessageSeq) };
  }

  private async assertCanSee(principal: Principal, room: Pick<Room, 'id' | 'visibility'>): Promise<CachedMember | null> {
    if (!principal.userId) {
      if (principal.isAdmin || room.visibility === 'public') return null;
      throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
    }
    const member = await this.member(principal.sourceAccountId, room.id, principal.userId);
    if (member?.banned && !principal.isAdmin) throw Errors.forbidden('You are banned from this room', 'BANNED');
    // A private room is not even acknowledged to outsiders.
    if (room.visibility === 'private' && !member && !principal.isAdmin) throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
    return member;
  }

  private async requireModerator(principal: Principal, roomId: string): Promise<CachedMember | null> {
    const member = principal.userId ? await this.member(principal.sourceAccountId, roomId, principal.userId) : null;
    if (!isModerator(principal, member)) throw Errors.forbidden('Only the room owner or an admin may do this');
    return member;
  }

  async delete(principal: Principal, idOrName: string): Promise<void> {
    const account = principal.sourceAccountId;
    const room = await this.deps.repo.find(account, idOrName);
    if (!room) throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
    await this.assertCanSee(principal, room);
    const member = principal.userId ? await this.member(account, room.id, principal.userId) : null;
    if (!principal.isAdmin && member?.role !== 'owner') throw Errors.forbidden('Only the room owner or an admin may delete it');
    await this.deps.repo.delete(account, room.id);
    await this.deps.state.storeRoom(account, room.id, null);
    await this.deps.broadcaster.command({ type: 'leave-room', account, roomId: room.id, userId: null, reason: 'deleted' });
    // Dropping the room's keys removes the cached row too; store the tombstone again afterwards.
    await this.deps.state.dropRoom(account, room.id);
    await this.deps.state.storeRoom(account, room.id, null);
    this.deps.db?.logEvent({ account, eventType: 'room:delete', userId: principal.userId, roomId: room.id });
  }

  async members(principal: Principal, idOrName: string, query: unknown): Promise<{ members: Member[]; total: number; online: string[] }> {
    const data = parseInput(listMembersInput, query);
    const room = await this.require(principal.sourceAccountId, idOrName);
    const member = await this.assertCanSee(principal, room);
    const includeBanned = data.includeBanned && isModerator(principal, member);
    const [page, online] = await Promise.all([
      this.deps.repo.members(principal.sourceAccountId, room.id, { limit: data.limit, offset: data.offset, includeBanned }),
      this.deps.state.onlineInRoom(principal.sourceAccountId, room.id),
    ]);
    return { ...page, online: online.users };
  }

  /** Owners/admins add anyone; on a public room a user may add itself. */
  async addMember(principal: Principal, idOrName: string, input: unknown): Promise<{ member: Member; created: boolean }> {
    const data = parseInput(addMemberInput, input);
    const account = principal.sourceAccountId;
    const room = await this.require(account, idOrName);
    const self = principal.userId === data.userId;
    const caller = principal.userId ? await this.member(account, room.id, principal.userId) : null;
    const moderator = isModerator(principal, caller);
    if (!moderator && !(self && room.visibility === 'public' && data.role === 'member')) {
      throw Errors.forbidden('Only the room owner or an admin may add members');
    }
    if (data.role === 'admin' && !principal.isAdmin && caller?.role !== 'owner') {
      throw Errors.forbidden('Only the room owner may grant the admin role');
    }
    const existing = await this.deps.repo.member(account, room.id, data.userId);
    if (existing?.banned) throw Errors.conflict('BANNED', 'This user is banned from the room; unban first');
    const result = await this.deps.repo.addMember(account, room.id, data.userId, data.role);
    await this.deps.state.storeMember(account, room.id, data.userId, toCachedMember(result.member));
    if (result.created) {
      this.deps.db?.logEvent({ account, eventType: 'member:add', userId: data.userId, roomId: room.id, payload: { by: principal.userId } });
    }
    return result;
  }

  async updateMember(principal: Principal, idOrName: string, target: string, input: unknown): Promise<Member> {
    const data = parseInput(updateMemberInput, input);
    const account = principal.sourceAccountId;
    const room = await this.require(account, idOrName);
    const caller = principal.userId ? await this.member(account, room.id, principal.userId) : null;
    if (!isModerator(principal, caller)) throw Errors.forbidden('Only the room owner or an admin may change members');
    const existing = await this.deps.repo.member(account, room.id, target);
    if (existing?.role === 'owner' && !principal.isAdmin) throw Errors.forbidden('The room owner cannot be changed');
    if (data.role === 'admin' && !principal.isAdmin && caller?.role !== 'owner') {
      throw Errors.forbidden('Only the room owner may grant the admin role');
    }
    if (!existing && data.banned !== true) throw Errors.notFound('Member', 'MEMBER_NOT_FOUND');
    let member = data.banned === true ? await this.deps.repo.ban(account, room.id, target, data.banReason ?? null) : existing!;
    const mutedUntil =
      data.muteSeconds === undefined ? undefined : data.muteSeconds === 0 ? null : new Date(Date.now() + data.muteSeconds * 1000);
    if (data.role !== undefined || mutedUntil !== undefined || data.banned === false) {
      member = (await this.deps.repo.updateMember(account, room.id, target, {
        role: data.role,
        mutedUntil,
        banned: data.banned === false ? false : undefined,
      }))!;
    }
    await this.deps.state.storeMember(account, room.id, target, toCachedMember(member));
    if (data.banned === true) {
      await this.deps.broadcaster.command({ type: 'leave-room', account, roomId: room.id, userId: target, reason: 'banned' });
    }
    this.deps.db?.logEvent({
      account,
      eventType: 'member:update',
      userId: target,
      roomId: room.id,
      payload: { by: principal.userId, role: data.role, muteSeconds: data.muteSeconds, banned: data.banned },
    });
    return member;
  }

  /** A member leaves, or a moderator removes one; their sockets leave the room on every replica. */
  async removeMember(principal: Principal, idOrName: string, target: string): Promise<void> {
    const account = principal.sourceAccountId;
    const room = await this.require(account, idOrName);
    const self = principal.userId === target;
    const caller = principal.userId ? await this.member(account, room.id, principal.userId) : null;
    if (!self && !isModerator(principal, caller)) throw Errors.forbidden('Only the room owner or an admin may remove members');
    const existing = await this.deps.repo.member(account, room.id, target);
    if (!existing) throw Errors.notFound('Member', 'MEMBER_NOT_FOUND');
    if (existing.role === 'owner' && !principal.isAdmin) throw Errors.forbidden('The room owner cannot be removed');
    if (existing.banned && !isModerator(principal, caller)) throw Errors.forbidden('Banned users cannot remove their ban');
    await this.deps.repo.removeMember(account, room.id, target);
    await this.deps.state.storeMember(account, room.id, target, null);
    await this.deps.broadcaster.command({ type: 'leave-room', account, roomId: room.id, userId: target, reason: 'kicked' });
    this.deps.db?.logEvent({ account, eventType: 'member:remove', userId: target, roomId: room.id, payload: { by: principal.userId } });
  }

  /** Socket.IO room name of a room. */
  static key(account: string, roomId: string): string {
    return roomNames.room(account, roomId);
  }
}
