import { Prisma, type PrismaClient, type RealtimeRoomModel as RealtimeRoom, type RealtimeRoomMemberModel as RealtimeRoomMember } from '@nself/db';
import type { RoomInfo, RoomRole, RoomType, RoomVisibility } from '@nself/realtime-client/contracts';
import { Errors } from '@nself/errors';

export interface Room extends RoomInfo {
  isActive: boolean;
  lastMessageSeq: number;
  lastMessageAt: string | null;
}

export interface Member {
  roomId: string;
  userId: string;
  role: RoomRole;
  mutedUntil: string | null;
  banned: boolean;
  banReason: string | null;
  joinedAt: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function toRoom(row: RealtimeRoom): Room {
  return {
    id: row.id,
    name: row.name,
    type: row.type as RoomType,
    visibility: row.visibility as RoomVisibility,
    description: row.description,
    maxMembers: row.maxMembers,
    ownerId: row.ownerId,
    metadata: (row.metadata ?? {}) as Record<string, unknown>,
    createdAt: row.createdAt.toISOString(),
    isActive: row.isActive,
    lastMessageSeq: Number(row.lastMessageSeq),
    lastMessageAt: row.lastMessageAt?.toISOString() ?? null,
  };
}

export function toMember(row: RealtimeRoomMember): Member {
  return {
    roomId: row.roomId,
    userId: row.userId,
    role: row.role as RoomRole,
    mutedUntil: row.mutedUntil?.toISOString() ?? null,
    banned: row.bannedAt !== null,
    banReason: row.banReason,
    joinedAt: row.joinedAt.toISOString(),
  };
}

export interface CreateRoomInput {
  name: string;
  type: RoomType;
  visibility: RoomVisibility;
  description?: string | null;
  maxMembers?: number | null;
  metadata?: Record<string, unknown>;
  ownerId: string | null;
  members: string[];
}

export interface ListRoomsFilter {
  /** Private rooms are listed only when this user is a member (undefined: admin sees all). */
  viewerId?: string | null;
  visibility?: RoomVisibility;
  type?: RoomType;
  memberOnly?: boolean;
  limit: number;
  offset: number;
}

/** Rooms and memberships in PostgreSQL (the durable truth; Redis caches what the hot path needs). */
export class RoomsRepository {
  constructor(private readonly prisma: PrismaClient) {}

  async create(account: string, input: CreateRoomInput): Promise<{ room: Room; members: Member[] }> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const room = await tx.realtimeRoom.create({
          data: {
            sourceAccountId: account,
            name: input.name,
            type: input.type,
            visibility: input.visibility,
            description: input.description ?? null,
            maxMembers: input.maxMembers ?? null,
            ownerId: input.ownerId,
            metadata: (input.metadata ?? {}) as Prisma.InputJsonValue,
          },
        });
        const userIds = [...new Set([...(input.ownerId ? [input.ownerId] : []), ...input.members])];
        if (input.maxMembers && userIds.length > input.maxMembers) {
          throw Errors.conflict('ROOM_FULL', `The room allows at most ${input.maxMembers} members`);
        }
        const members: Member[] = [];
        for (const userId of userIds) {
          const row = await tx.realtimeRoomMember.create({
            data: {
              sourceAccountId: account,
              roomId: room.id,
              userId,
              role: userId === input.ownerId ? 'owner' : 'member',
            },
          });
          members.push(toMember(row));
        }
        return { room: toRoom(room), members };
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw Errors.conflict('ROOM_EXISTS', `A room named "${input.name}" already exists`);
      }
      throw error;
    }
  }

  /** By id (UUID) or by name, within the account. */
  async find(account: string, idOrName: string): Promise<Room | null> {
    const row = isUuid(idOrName)
      ? await this.prisma.realtimeRoom.findFirst({ where: { sourceAccountId: account, id: idOrName } })
      : await this.prisma.realtimeRoom.findUnique({
          where: { sourceAccountId_name: { sourceAccountId: account, name: idOrName } },
        });
    return row ? toRoom(row) : null;
  }

  async list(account: string, filter: ListRoomsFilter): Promise<{ rooms: Room[]; total: number }> {
    let visibleTo: Prisma.RealtimeRoomWhereInput = {};
    if (filter.viewerId === null) {
      visibleTo = { visibility: 'public' };
    } else if (filter.viewerId !== undefined) {
      const memberOf = { members: { some: { userId: filter.viewerId, bannedAt: null } } };
      visibleTo = filter.memberOnly ? memberOf : { OR: [{ visibility: 'public' }, memberOf] };
    }
    const where: Prisma.RealtimeRoomWhereInput = {
      sourceAccountId: account,
      isActive: true,
      ...(filter.visibility ? { visibility: filter.visibility } : {}),
      ...(filter.type ? { type: filter.type } : {}),
      ...visibleTo,
    };
    const [rows, total] = await Promise.all([
      this.prisma.realtimeRoom.findMany({ where, orderBy: { createdAt: 'asc' }, take: filter.limit, skip: filter.offset }),
      this.prisma.realtimeRoom.count({ where }),
    ]);
    return { rooms: rows.map(toRoom), total };
  }

  async delete(account: string, roomId: string): Promise<boolean> {
    const { count } = await this.prisma.realtimeRoom.deleteMany({ where: { sourceAccountId: account, id: roomId } });
    return count > 0;
  }

  /** Hot on joins after a cache miss: plain SQL (no query-plan compilation, little garbage). */
  async member(account: string, roomId: string, userId: string): Promise<Member | null> {
    if (!isUuid(roomId)) return null;
    const rows = await this.prisma.$queryRaw<
      { role: string; muted_until: Date | null; banned_at: Date | null; ban_reason: string | null; joined_at: Date }[]
    >`SELECT role, muted_until, banned_at, ban_reason, joined_at FROM realtime_room_members
       WHERE source_account_id = ${account} AND room_id = ${roomId}::uuid AND user_id = ${userId}`;
    const row = rows[0];
    if (!row) return null;
    return {
      roomId,
      userId,
      role: row.role as RoomRole,
      mutedUntil: row.muted_until?.toISOString() ?? null,
      banned: row.banned_at !== null,
      banReason: row.ban_reason,
      joinedAt: row.joined_at.toISOString(),
    };
  }

  async members(
    account: string,
    roomId: string,
    options: { limit: number; offset: number; includeBanned: boolean },
  ): Promise<{ members: Member[]; total: number }> {
    const where: Prisma.RealtimeRoomMemberWhereInput = {
      sourceAccountId: account,
      roomId,
      ...(options.includeBanned ? {} : { bannedAt: null }),
    };
    const [rows, total] = await Promise.all([
      this.prisma.realtimeRoomMember.findMany({ where, orderBy: { joinedAt: 'asc' }, take: options.limit, skip: options.offset }),
      this.prisma.realtimeRoomMember.count({ where }),
    ]);
    return { members: rows.map(toMember), total };
  }

  /**
   * Adds a member (or returns the existing one), enforcing max_members under a row lock on the room so
   * concurrent joins on several replicas cannot overfill it.
   */
  async addMember(account: string, roomId: string, userId: string, role: RoomRole): Promise<{ member: Member; created: boolean }> {
    return this.prisma.$transaction(async (tx) => {
      const rooms = await tx.$queryRaw<{ max_members: number | null }[]>`
        SELECT max_members FROM realtime_rooms WHERE id = ${roomId}::uuid AND source_account_id = ${account} FOR UPDATE`;
      const room = rooms[0];
      if (!room) throw Errors.notFound('Room', 'ROOM_NOT_FOUND');
      const existing = await tx.realtimeRoomMember.findFirst({ where: { roomId, userId } });
      if (existing) return { member: toMember(existing), created: false };
      if (room.max_members !== null) {
        const count = await tx.realtimeRoomMember.count({ where: { roomId, bannedAt: null } });
        if (count >= room.max_members) {
          throw Errors.conflict('ROOM_FULL', `The room allows at most ${room.max_members} members`);
        }
      }
      const row = await tx.realtimeRoomMember.create({ data: { sourceAccountId: account, roomId, userId, role } });
      return { member: toMember(row), created: true };
    });
  }

  async updateMember(
    account: string,
    roomId: string,
    userId: string,
    change: { role?: RoomRole; mutedUntil?: Date | null; banned?: boolean; banReason?: string | null },
  ): Promise<Member | null> {
    const existing = await this.prisma.realtimeRoomMember.findFirst({ where: { sourceAccountId: account, roomId, userId } });
    if (!existing) return null;
    const row = await this.prisma.realtimeRoomMember.update({
      where: { id: existing.id },
      data: {
        ...(change.role ? { role: change.role } : {}),
        ...(change.mutedUntil !== undefined ? { mutedUntil: change.mutedUntil } : {}),
        ...(change.banned === true ? { bannedAt: existing.bannedAt ?? new Date(), banReason: change.banReason ?? null } : {}),
        ...(change.banned === false ? { bannedAt: null, banReason: null } : {}),
      },
    });
    return toMember(row);
  }

  /** Bans a user who may not be a member yet (a ban row keeps them out of public rooms too). */
  async ban(account: string, roomId: string, userId: string, reason: string | null): Promise<Member> {
    const row = await this.prisma.realtimeRoomMember.upsert({
      where: { roomId_userId: { roomId, userId } },
      create: { sourceAccountId: account, roomId, userId, role: 'member', bannedAt: new Date(), banReason: reason },
      update: { bannedAt: new Date(), banReason: reason },
    });
    return toMember(row);
  }

  async removeMember(account: string, roomId: string, userId: string): Promise<boolean> {
    const { count } = await this.prisma.realtimeRoomMember.deleteMany({ where: { sourceAccountId: account, roomId, userId } });
    return count > 0;
  }

  /** Hot on connects (presence fan-out after a cache miss): plain SQL. */
  async roomIdsOfUser(account: string, userId: string): Promise<string[]> {
    const rows = await this.prisma.$queryRaw<{ room_id: string }[]>`
      SELECT m.room_id::text AS room_id FROM realtime_room_members m JOIN realtime_rooms r ON r.id = m.room_id
       WHERE m.source_account_id = ${account} AND m.user_id = ${userId} AND m.banned_at IS NULL AND r.is_active`;
    return rows.map((r) => r.room_id);
  }
}
