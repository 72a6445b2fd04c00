import type { Redis } from 'ioredis';
import type { PresenceStatus, RoomLogEntry, TypingUser } from '@nself/realtime-client/contracts';
import type { Keys } from '../keys.js';
import type { LogPublication } from './broadcaster.js';
import { corkUntilCheckPhase } from './redis.js';
import * as lua from './lua.js';

const SCRIPTS = {
  rtConnect: { keys: 5, lua: lua.CONNECT },
  rtDisconnect: { keys: 6, lua: lua.DISCONNECT },
  rtHeartbeat: { keys: 1, lua: lua.HEARTBEAT },
  rtDeadInstances: { keys: 1, lua: lua.DEAD_INSTANCES },
  rtReapInstance: { keys: 2, lua: lua.REAP_INSTANCE },
  rtJoinRoom: { keys: 2, lua: lua.JOIN_ROOM },
  rtLeaveRoom: { keys: 2, lua: lua.LEAVE_ROOM },
  rtAppend: { keys: 3, lua: lua.APPEND },
  rtHistory: { keys: 2, lua: lua.HISTORY },
  rtTypingStart: { keys: 2, lua: lua.TYPING_START },
  rtTypingStop: { keys: 2, lua: lua.TYPING_STOP },
  rtTypingList: { keys: 1, lua: lua.TYPING_LIST },
  rtTypingSweep: { keys: 1, lua: lua.TYPING_SWEEP },
  rtActivity: { keys: 2, lua: lua.ACTIVITY },
  rtAwaySweep: { keys: 1, lua: lua.AWAY_SWEEP },
  rtPresenceSet: { keys: 3, lua: lua.PRESENCE_SET },
  rtFillUserRooms: { keys: 2, lua: lua.FILL_USER_ROOMS },
  rtLock: { keys: 1, lua: lua.LOCK },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptFn = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/** A presence as stored; `connections` counts live sockets on every replica. */
export interface StoredPresence {
  userId: string;
  status: PresenceStatus;
  statusText: string | null;
  statusEmoji: string | null;
  connections: number;
  lastActiveAt: number | null;
  updatedAt: number | null;
}

export interface PresenceTransition {
  account: string;
  userId: string;
  connections: number;
  previous: PresenceStatus;
  status: PresenceStatus;
}

export interface ReapedSocket {
  socketId: string;
  account: string;
  userId: string | null;
  /** Rooms the user no longer has any socket in. */
  leftRooms: string[];
  presence: PresenceTransition | null;
}

/** Cached membership of one user in one room (or null: not a member). */
export interface CachedMember {
  role: 'owner' | 'admin' | 'member';
  banned: boolean;
  /** Epoch ms, or null. */
  mutedUntil: number | null;
}

export type AppendResult =
  | { ok: true; seq: number; now: number }
  | { ok: false; reason: 'LOAD' | 'NOT_A_MEMBER' | 'BANNED' }
  | { ok: false; reason: 'MUTED'; until: number };

export interface SocketRecord {
  socketId: string;
  account: string;
  userId: string | null;
  instanceId: string;
  connectedAt: number;
  ip: string;
  userAgent: string;
  transport: string;
}

export interface TypingEntry {
  account: string;
  roomId: string;
  threadId: string | null;
  userId: string;
}

const PRESENCE_TTL_MS = 30 * 24 * 3600_000;
const MEMBER_CACHE_SECONDS = 600;
const USER_ROOMS_CACHE_SECONDS = 300;

function asStatus(value: unknown): PresenceStatus {
  return value === 'online' || value === 'away' || value === 'busy' ? value : 'offline';
}

function scriptsOn(redis: Redis): Record<ScriptName, ScriptFn> {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua });
  }
  const bag = redis as unknown as Record<string, ScriptFn>;
  return Object.fromEntries(
    Object.keys(SCRIPTS).map((name) => [name, (...args: (string | number)[]) => bag[name]!.call(redis, ...args)]),
  ) as Record<ScriptName, ScriptFn>;
}

/**
 * All shared realtime state in Redis: connection registry per replica, presence, room online counts,
 * the per-room sequenced log (history), typing, and caches of room/membership rows. Every replica
 * reads and writes the same keys, so they agree without talking to each other.
 */
export class RealtimeState {
  private readonly scripts: Record<ScriptName, ScriptFn>;
  private readonly appendScript: ScriptFn;

  constructor(
    readonly redis: Redis,
    readonly keys: Keys,
    private readonly options: { historySize: number; historyTtlMs: number; typingTimeoutMs: number },
    /** Where room log appends go (the hot path: one per message); by default the state client. */
    private readonly appendClient: Redis = redis,
  ) {
    this.scripts = scriptsOn(redis);
    this.appendScript = scriptsOn(appendClient).rtAppend;
  }

  // ---- replicas ------------------------------------------------------------------------------

  /** Returns true when this instance was absent from the registry (first beat, or it was reaped). */
  async heartbeat(instanceId: string): Promise<boolean> {
    const [added] = (await this.scripts.rtHeartbeat(this.keys.instances, instanceId)) as [number, number];
    return added === 1;
  }

  async deadInstances(ttlMs: number): Promise<string[]> {
    return (await this.scripts.rtDeadInstances(this.keys.instances, ttlMs)) as string[];
  }

  async reapInstance(instanceId: string, ttlMs: number): Promise<ReapedSocket[]> {
    const rows = (await this.scripts.rtReapInstance(
      this.keys.instances,
      this.keys.instanceSockets(instanceId),
      instanceId,
      this.keys.prefix,
      ttlMs,
      PRESENCE_TTL_MS,
    )) as [string, string, string, number, string, string, string[]][];
    return rows.map(([socketId, account, uid, count, prev, status, leftRooms]) => ({
      socketId,
      account,
      userId: uid || null,
      leftRooms,
      presence: uid
        ? { account, userId: uid, connections: Number(count), previous: asStatus(prev), status: asStatus(status) }
        : null,
    }));
  }

  async deregisterInstance(instanceId: string): Promise<void> {
    await this.redis.multi().zrem(this.keys.instances, instanceId).del(this.keys.instanceSockets(instanceId)).exec();
  }

  async instances(): Promise<{ instanceId: string; lastBeatAt: number; sockets: number }[]> {
    const raw = await this.redis.zrange(this.keys.instances, 0, -1, 'WITHSCORES');
    const out: { instanceId: string; lastBeatAt: number; sockets: number }[] = [];
    for (let i = 0; i < raw.length; i += 2) out.push({ instanceId: raw[i]!, lastBeatAt: Number(raw[i + 1]), sockets: 0 });
    const pipeline = this.redis.pipeline();
    for (const instance of out) pipeline.scard(this.keys.instanceSockets(instance.instanceId));
    const counts = (await pipeline.exec()) ?? [];
    counts.forEach(([, n], i) => {
      out[i]!.sockets = Number(n ?? 0);
    });
    return out;
  }

  // ---- connections and presence ----------------------------------------------------------------

  async connect(record: SocketRecord, device: Record<string, unknown>): Promise<PresenceTransition | null> {
    const { account, userId } = record;
    const uid = userId ?? '';
    const result = (await this.scripts.rtConnect(
      this.keys.socket(record.socketId),
      this.keys.instanceSockets(record.instanceId),
      uid ? this.keys.userSockets(account, uid) : this.keys.socket(record.socketId),
      uid ? this.keys.presence(account, uid) : this.keys.socket(record.socketId),
      this.keys.activity,
      record.socketId,
      account,
      uid,
      record.instanceId,
      record.ip,
      record.userAgent,
      record.transport,
      JSON.stringify(device),
      this.keys.activityMember(account, uid),
    )) as [number, string, string, number];
    if (!userId) return null;
    return { account, userId, connections: result[0], previous: asStatus(result[1]), status: asStatus(result[2]) };
  }

  /** null when the socket was already cleaned up (by a reaper). */
  async disconnect(
    socketId: string,
    instanceId: string,
    account: string,
    userId: string | null,
  ): Promise<{ presence: PresenceTransition | null; leftRooms: string[] } | null> {
    const uid = userId ?? '';
    const result = (await this.scripts.rtDisconnect(
      this.keys.socket(socketId),
      this.keys.socketRooms(socketId),
      this.keys.instanceSockets(instanceId),
      uid ? this.keys.userSockets(account, uid) : this.keys.socket(socketId),
      uid ? this.keys.presence(account, uid) : this.keys.socket(socketId),
      this.keys.activity,
      socketId,
      this.keys.activityMember(account, uid),
      `${this.keys.prefix}:a:${account}:r:`,
      uid,
      PRESENCE_TTL_MS,
    )) as [number, string?, string?, string[]?];
    if (result[0] === -1) return null;
    return {
      presence: userId
        ? { account, userId, connections: result[0], previous: asStatus(result[1]), status: asStatus(result[2]) }
        : null,
      leftRooms: result[3] ?? [],
    };
  }

  async socket(socketId: string): Promise<SocketRecord | null> {
    const raw = await this.redis.hgetall(this.keys.socket(socketId));
    if (!raw.acct) return null;
    return {
      socketId,
      account: raw.acct,
      userId: raw.uid || null,
      instanceId: raw.inst ?? '',
      connectedAt: Number(raw.at ?? 0),
      ip: raw.ip ?? '',
      userAgent: raw.ua ?? '',
      transport: raw.tr ?? '',
    };
  }

  async recordActivity(account: string, userId: string): Promise<boolean> {
    const [changed] = (await this.scripts.rtActivity(
      this.keys.presence(account, userId),
      this.keys.activity,
      this.keys.activityMember(account, userId),
    )) as [number, number];
    return changed === 1;
  }

  /** Users that just went online → away; each is reported to exactly one replica. */
  async sweepAway(awayAfterMs: number, limit = 500): Promise<{ account: string; userId: string }[]> {
    const flat = (await this.scripts.rtAwaySweep(this.keys.activity, this.keys.prefix, awayAfterMs, limit)) as string[];
    const out: { account: string; userId: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) out.push({ account: flat[i]!, userId: flat[i + 1]! });
    return out;
  }

  async setPresence(
    account: string,
    userId: string,
    change: { status?: PresenceStatus; statusText?: string | null; statusEmoji?: string | null },
  ): Promise<PresenceStatus> {
    const [prev] = (await this.scripts.rtPresenceSet(
      this.keys.presence(account, userId),
      this.keys.activity,
      this.keys.userSockets(account, userId),
      change.status ?? '',
      change.statusText === undefined ? 'keep' : 'set',
      change.statusText ?? '',
      change.statusEmoji === undefined ? 'keep' : 'set',
      change.statusEmoji ?? '',
      this.keys.activityMember(account, userId),
    )) as [string, number, number];
    return asStatus(prev);
  }

  async presence(account: string, userIds: string[]): Promise<StoredPresence[]> {
    if (userIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const userId of userIds) {
      pipeline.hmget(this.keys.presence(account, userId), 'status', 'text', 'emoji', 'active', 'updated');
      pipeline.scard(this.keys.userSockets(account, userId));
    }
    const replies = (await pipeline.exec()) ?? [];
    return userIds.map((userId, i) => {
      const [, fields] = replies[i * 2] ?? [];
      const [, count] = replies[i * 2 + 1] ?? [];
      const [status, text, emoji, active, updated] = (fields as (string | null)[] | undefined) ?? [];
      const connections = Number(count ?? 0);
      return {
        userId,
        // No live socket means offline, whatever a stale hash says.
        status: connections > 0 ? asStatus(status) : 'offline',
        statusText: text ?? null,
        statusEmoji: emoji ?? null,
        connections,
        lastActiveAt: active ? Number(active) : null,
        updatedAt: updated ? Number(updated) : null,
      };
    });
  }

  // ---- rooms: online sets -------------------------------------------------------------------------

  /** Returns how many sockets the user now has in the room (1 = just arrived), or -1 if this socket was in already. */
  async joinRoom(socketId: string, account: string, roomId: string, userId: string | null): Promise<number> {
    return Number(
      await this.scripts.rtJoinRoom(
        this.keys.socketRooms(socketId),
        this.keys.roomOnline(account, roomId),
        roomId,
        userId ?? '',
      ),
    );
  }

  /** Sockets of the user left in the room (0 = the user left), or -1 if this socket was not in it. */
  async leaveRoom(socketId: string, account: string, roomId: string, userId: string | null): Promise<number> {
    return Number(
      await this.scripts.rtLeaveRoom(
        this.keys.socketRooms(socketId),
        this.keys.roomOnline(account, roomId),
        roomId,
        userId ?? '',
      ),
    );
  }

  async onlineInRoom(account: string, roomId: string, limit = 500): Promise<{ users: string[]; total: number }> {
    const key = this.keys.roomOnline(account, roomId);
    const [total, scan] = await Promise.all([
      this.redis.hlen(key),
      limit > 0 ? this.redis.hscan(key, '0', 'COUNT', limit) : Promise.resolve(['0', []] as [string, string[]]),
    ]);
    const users: string[] = [];
    for (let i = 0; i < scan[1].length && users.length < limit; i += 2) users.push(scan[1][i]!);
    return { users, total };
  }

  async dropRoom(account: string, roomId: string): Promise<void> {
    await this.redis.unlink(
      this.keys.roomMeta(account, roomId),
      this.keys.roomSeq(account, roomId),
      this.keys.roomLog(account, roomId),
      this.keys.roomOnline(account, roomId),
      this.keys.roomTyping(account, roomId),
    );
  }

  // ---- rooms: sequenced log ---------------------------------------------------------------------

  async append(
    account: string,
    roomId: string,
    userId: string | null,
    event: RoomLogEntry['event'],
    bodyWithoutSeq: Record<string, unknown>,
    publication?: LogPublication,
  ): Promise<AppendResult> {
    corkUntilCheckPhase(this.appendClient);
    const result = (await this.appendScript(
      this.keys.roomMember(account, roomId, userId ?? '-'),
      this.keys.roomSeq(account, roomId),
      this.keys.roomLog(account, roomId),
      event,
      JSON.stringify(bodyWithoutSeq),
      this.options.historySize,
      this.options.historyTtlMs,
      userId ? 1 : 0,
      ...(publication ? [publication.channel, publication.packet, publication.seqOffset] : []),
    )) as [string, (string | number)?, number?];
    const [status] = result;
    if (status === 'OK') return { ok: true, seq: Number(result[1]), now: Number(result[2]) };
    if (status === 'MUTED') return { ok: false, reason: 'MUTED', until: Number(result[1]) };
    return { ok: false, reason: status as 'LOAD' | 'NOT_A_MEMBER' | 'BANNED' };
  }

  /** Log entries after sinceSeq (oldest first), up to limit, and whether older ones were already trimmed. */
  async history(
    account: string,
    roomId: string,
    sinceSeq: number,
    limit: number,
  ): Promise<{ lastSeq: number; events: RoomLogEntry[]; truncated: boolean }> {
    const [lastSeq, raw] = (await this.scripts.rtHistory(
      this.keys.roomSeq(account, roomId),
      this.keys.roomLog(account, roomId),
      sinceSeq,
      limit,
      this.options.historyTtlMs,
    )) as [number, [string, string[]][]];
    const events: RoomLogEntry[] = [];
    for (let i = raw.length - 1; i >= 0; i -= 1) {
      const fields = raw[i]![1];
      const event = fields[fields.indexOf('e') + 1] as RoomLogEntry['event'];
      const payload = JSON.parse(fields[fields.indexOf('d') + 1]!) as RoomLogEntry['payload'];
      if (payload.seq > sinceSeq) events.push({ event, payload } as RoomLogEntry);
    }
    const wanted = Math.min(Number(lastSeq) - sinceSeq, limit);
    const first = events[0]?.payload.seq;
    const truncated = wanted > 0 && (first === undefined || first > sinceSeq + 1);
    return { lastSeq: Number(lastSeq), events, truncated };
  }

  async lastSeq(account: string, roomId: string): Promise<number> {
    return Number((await this.redis.get(this.keys.roomSeq(account, roomId))) ?? 0);
  }

  /** Finds a message:new entry still in the log. */
  async findMessage(account: string, roomId: string, messageId: string): Promise<{ senderId: string | null } | null> {
    const entries = await this.redis.xrevrange(this.keys.roomLog(account, roomId), '+', '-');
    for (const [, fields] of entries) {
      if (fields[fields.indexOf('e') + 1] !== 'message:new') continue;
      const payload = JSON.parse(fields[fields.indexOf('d') + 1]!) as { id: string; senderId: string | null };
      if (payload.id === messageId) return { senderId: payload.senderId };
    }
    return null;
  }

  // ---- typing ---------------------------------------------------------------------------------

  private typingMembers(entry: TypingEntry): [string, string] {
    const roomMember = JSON.stringify([entry.threadId ?? '', entry.userId]);
    return [roomMember, JSON.stringify([entry.account, entry.roomId, roomMember])];
  }

  /** Returns whether the user newly started typing and when it expires. */
  async startTyping(entry: TypingEntry): Promise<{ started: boolean; expiresAt: number }> {
    const [roomMember, indexMember] = this.typingMembers(entry);
    const [added, expiresAt] = (await this.scripts.rtTypingStart(
      this.keys.roomTyping(entry.account, entry.roomId),
      this.keys.typing,
      roomMember,
      indexMember,
      this.options.typingTimeoutMs,
    )) as [number, number];
    return { started: added === 1, expiresAt: Number(expiresAt) };
  }

  async stopTyping(entry: TypingEntry): Promise<boolean> {
    const [roomMember, indexMember] = this.typingMembers(entry);
    const removed = await this.scripts.rtTypingStop(
      this.keys.roomTyping(entry.account, entry.roomId),
      this.keys.typing,
      roomMember,
      indexMember,
    );
    return Number(removed) === 1;
  }

  async typingIn(account: string, roomId: string): Promise<TypingUser[]> {
    const raw = (await this.scripts.rtTypingList(this.keys.roomTyping(account, roomId))) as string[];
    const out: TypingUser[] = [];
    for (let i = 0; i < raw.length; i += 2) {
      const [threadId, userId] = JSON.parse(raw[i]!) as [string, string];
      out.push({ userId, threadId: threadId || null, expiresAt: new Date(Number(raw[i + 1])).toISOString() });
    }
    return out;
  }

  /** Expired typing entries, each handed to exactly one replica. */
  async sweepTyping(limit = 1000): Promise<TypingEntry[]> {
    const raw = (await this.scripts.rtTypingSweep(this.keys.typing, this.keys.prefix, limit)) as string[];
    return raw.map((member) => {
      const [account, roomId, roomMember] = JSON.parse(member) as [string, string, string];
      const [threadId, userId] = JSON.parse(roomMember) as [string, string];
      return { account, roomId, threadId: threadId || null, userId };
    });
  }

  // ---- caches of database rows -------------------------------------------------------------------

  async cachedMember(account: string, roomId: string, userId: string): Promise<CachedMember | null | undefined> {
    const raw = await this.redis.get(this.keys.roomMember(account, roomId, userId));
    if (raw === null) return undefined;
    return raw === 'none' ? null : (JSON.parse(raw) as CachedMember);
  }

  /** Fill from a database read: never overwrites a value a writer stored meanwhile. */
  async fillMember(account: string, roomId: string, userId: string, member: CachedMember | null): Promise<void> {
    await this.redis.set(
      this.keys.roomMember(account, roomId, userId),
      member ? JSON.stringify(member) : 'none',
      'EX',
      MEMBER_CACHE_SECONDS,
      'NX',
    );
  }

  /** Write-through after a membership change. */
  async storeMember(account: string, roomId: string, userId: string, member: CachedMember | null): Promise<void> {
    await this.redis
      .multi()
      .set(this.keys.roomMember(account, roomId, userId), member ? JSON.stringify(member) : 'none', 'EX', MEMBER_CACHE_SECONDS)
      .incr(this.keys.userRoomsVersion(account, userId))
      .del(this.keys.userRooms(account, userId))
      .exec();
  }

  async cachedRoom<T>(account: string, roomId: string): Promise<T | null | undefined> {
    const raw = await this.redis.get(this.keys.roomMeta(account, roomId));
    if (raw === null) return undefined;
    return raw === 'none' ? null : (JSON.parse(raw) as T);
  }

  async storeRoom(account: string, roomId: string, room: unknown, nx = false): Promise<void> {
    const value = room ? JSON.stringify(room) : 'none';
    if (nx) await this.redis.set(this.keys.roomMeta(account, roomId), value, 'EX', MEMBER_CACHE_SECONDS, 'NX');
    else await this.redis.set(this.keys.roomMeta(account, roomId), value, 'EX', MEMBER_CACHE_SECONDS);
  }

  /** Cached room ids of a user's memberships; undefined on a miss (with the version to fill against). */
  async cachedUserRooms(account: string, userId: string): Promise<{ rooms?: string[]; version: string }> {
    const [[, members], [, version]] = ((await this.redis
      .multi()
      .smembers(this.keys.userRooms(account, userId))
      .get(this.keys.userRoomsVersion(account, userId))
      .exec()) ?? []) as [[unknown, string[]], [unknown, string | null]];
    if (members.length === 0) return { version: version ?? '0' };
    return { rooms: members.filter((m) => m !== '*'), version: version ?? '0' };
  }

  async fillUserRooms(account: string, userId: string, version: string, roomIds: string[]): Promise<void> {
    await this.scripts.rtFillUserRooms(
      this.keys.userRooms(account, userId),
      this.keys.userRoomsVersion(account, userId),
      version,
      USER_ROOMS_CACHE_SECONDS,
      ...roomIds,
    );
  }

  /** Acquires or extends a lock (leader election for periodic database maintenance). */
  async lock(key: string, owner: string, ttlMs: number): Promise<boolean> {
    return Number(await this.scripts.rtLock(key, owner, ttlMs)) === 1;
  }
}
