import { Prisma, type PrismaClient } from '@nself/db';
import type { Logger } from '@nself/logging';
import { uuidv7 } from '../ids.js';

export interface EventLogRow {
  account: string;
  eventType: string;
  socketId?: string | null;
  userId?: string | null;
  roomId?: string | null;
  ipAddress?: string | null;
  payload?: Record<string, unknown>;
  at?: Date;
}

export interface ConnectionRow {
  account: string;
  socketId: string;
  userId: string | null;
  transport: string;
  ipAddress: string;
  userAgent: string;
  device: Record<string, unknown>;
  connectedAt: Date;
}

export interface PresenceRow {
  account: string;
  userId: string;
  status: string;
  connections: number;
  lastActiveAt: Date;
  /** undefined: leave the stored value as it is. */
  statusText?: string | null;
  statusEmoji?: string | null;
}

export interface TypingRow {
  account: string;
  roomId: string;
  threadId: string | null;
  userId: string;
  /** null deletes the row. */
  expiresAt: Date | null;
}

export interface DbWriterOptions {
  instanceId: string;
  flushMs: number;
  bufferMax: number;
  /** Event types written to realtime_events ("*" = all). */
  logEvents: string[];
  onDropped?: (count: number) => void;
}

const CHUNK = 500;

function chunks<T>(items: T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Keeps PostgreSQL off the hot path: connection rows, presence, typing, room sequence and the event log
 * are buffered in memory (deduplicated where only the last value matters) and written in a few
 * multi-row statements per flush. Redis holds the live truth; these tables are the durable mirror for
 * the views (active_connections, room_stats, current_typing, presence_summary), the CLI and analytics.
 */
export class DbWriter {
  private events: EventLogRow[] = [];
  private connects = new Map<string, ConnectionRow>();
  private disconnects = new Map<string, { at: Date; reason: string }>();
  private presence = new Map<string, PresenceRow>();
  private typing = new Map<string, TypingRow>();
  private roomSeq = new Map<string, { seq: number; at: Date }>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly logAll: boolean;
  private readonly logTypes: Set<string>;
  dropped = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    private readonly options: DbWriterOptions,
  ) {
    this.logAll = options.logEvents.includes('*');
    this.logTypes = new Set(options.logEvents);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.options.flushMs);
    this.timer.unref();
  }

  /** Stops the timer and writes what is buffered. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // A flush already running took its snapshot before the last rows (e.g. the drained sockets'
    // disconnects) arrived: let it finish, then write the rest.
    await this.flushing;
    await this.flush();
  }

  get pending(): number {
    return (
      this.events.length + this.connects.size + this.disconnects.size + this.presence.size + this.typing.size + this.roomSeq.size
    );
  }

  private room(): boolean {
    if (this.pending < this.options.bufferMax) return true;
    this.dropped += 1;
    this.options.onDropped?.(1);
    if (this.dropped % 1000 === 1) this.logger.warn({ dropped: this.dropped }, 'database write buffer full, dropping');
    return false;
  }

  logs(eventType: string): boolean {
    return this.logAll || this.logTypes.has(eventType);
  }

  logEvent(row: EventLogRow): void {
    if (!this.logs(row.eventType) || !this.room()) return;
    this.events.push({ ...row, at: row.at ?? new Date() });
  }

  connected(row: ConnectionRow): void {
    if (!this.room()) return;
    this.connects.set(row.socketId, row);
  }

  disconnected(socketId: string, reason: string, at = new Date()): void {
    if (!this.room()) return;
    this.disconnects.set(socketId, { at, reason: reason.slice(0, 100) });
  }

  presenceChanged(row: PresenceRow): void {
    const key = `${row.account}|${row.userId}`;
    const previous = this.presence.get(key);
    if (!previous && !this.room()) return;
    this.presence.set(key, {
      ...row,
      statusText: row.statusText !== undefined ? row.statusText : previous?.statusText,
      statusEmoji: row.statusEmoji !== undefined ? row.statusEmoji : previous?.statusEmoji,
    });
  }

  typingChanged(row: TypingRow): void {
    const key = `${row.roomId}|${row.threadId ?? ''}|${row.userId}`;
    if (!this.typing.has(key) && !this.room()) return;
    this.typing.set(key, row);
  }

  roomSequence(roomId: string, seq: number, at: Date): void {
    const previous = this.roomSeq.get(roomId);
    if (previous && previous.seq >= seq) return;
    if (!previous && !this.room()) return;
    this.roomSeq.set(roomId, { seq, at });
  }

  /** Writes everything buffered; concurrent calls share one run. */
  flush(): Promise<void> {
    this.flushing ??= this.flushOnce().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async flushOnce(): Promise<void> {
    const connects = [...this.connects.values()];
    const disconnects = [...this.disconnects.entries()];
    const presence = [...this.presence.values()];
    const typing = [...this.typing.values()];
    const roomSeq = [...this.roomSeq.entries()];
    const events = this.events;
    this.connects = new Map();
    this.disconnects = new Map();
    this.presence = new Map();
    this.typing = new Map();
    this.roomSeq = new Map();
    this.events = [];
    await this.run('connections', connects, (rows) => this.writeConnects(rows));
    await this.run('disconnects', disconnects, (rows) => this.writeDisconnects(rows));
    await this.run('presence', presence, (rows) => this.writePresence(rows));
    await this.run('typing', typing, (rows) => this.writeTyping(rows));
    await this.run('room sequence', roomSeq, (rows) => this.writeRoomSeq(rows));
    await this.run('events', events, (rows) => this.writeEvents(rows));
  }

  private async run<T>(what: string, rows: T[], write: (rows: T[]) => Promise<unknown>): Promise<void> {
    for (const part of chunks(rows)) {
      try {
        await write(part);
      } catch (error) {
        this.dropped += part.length;
        this.options.onDropped?.(part.length);
        this.logger.error({ err: error, what, rows: part.length }, 'database mirror write failed');
      }
    }
  }

  private writeConnects(rows: ConnectionRow[]): Promise<number> {
    const values = rows.map(
      (r) => Prisma.sql`(${uuidv7()}::uuid, ${r.account}::text, ${r.socketId}::text, ${r.userId}::text,
        ${this.options.instanceId}::text, ${r.transport}::text, ${r.ipAddress}::text, ${r.userAgent}::text,
        ${JSON.stringify(r.device)}::jsonb, 'connected', ${r.connectedAt}::timestamptz, ${r.connectedAt}::timestamptz)`,
    );
    return this.prisma.$executeRaw`
      INSERT INTO realtime_connections (id, source_account_id, socket_id, user_id, instance_id, transport, ip_address,
        user_agent, device, status, connected_at, last_seen_at)
      VALUES ${Prisma.join(values)}
      ON CONFLICT (socket_id) DO UPDATE SET status = 'connected', instance_id = EXCLUDED.instance_id,
        last_seen_at = EXCLUDED.last_seen_at, disconnected_at = NULL, disconnect_reason = NULL`;
  }

  private writeDisconnects(rows: [string, { at: Date; reason: string }][]): Promise<number> {
    const values = rows.map(([socketId, d]) => Prisma.sql`(${socketId}::text, ${d.at}::timestamptz, ${d.reason}::text)`);
    return this.prisma.$executeRaw`
      UPDATE realtime_connections c
         SET status = 'disconnected', disconnected_at = v.at, disconnect_reason = v.reason, last_seen_at = v.at
        FROM (VALUES ${Prisma.join(values)}) AS v(socket_id, at, reason)
       WHERE c.socket_id = v.socket_id`;
  }

  private writePresence(rows: PresenceRow[]): Promise<number> {
    const values = rows.map(
      (r) => Prisma.sql`(${uuidv7()}::uuid, ${r.account}::text, ${r.userId}::text, ${r.status}::text, ${r.connections}::int,
        ${r.lastActiveAt}::timestamptz, ${r.statusText !== undefined}::boolean, ${r.statusText ?? null}::text,
        ${r.statusEmoji !== undefined}::boolean, ${r.statusEmoji ?? null}::text)`,
    );
    // Update existing rows (keeping text/emoji unless this change set them), insert the rest.
    return this.prisma.$executeRaw`
      WITH v(id, account, user_id, status, connections, active, set_text, text, set_emoji, emoji) AS (
        VALUES ${Prisma.join(values)}
      ), updated AS (
        UPDATE realtime_presence p
           SET status = v.status, connection_count = v.connections,
               last_active_at = GREATEST(p.last_active_at, v.active),
               status_text = CASE WHEN v.set_text THEN v.text ELSE p.status_text END,
               status_emoji = CASE WHEN v.set_emoji THEN v.emoji ELSE p.status_emoji END,
               updated_at = now()
          FROM v
         WHERE p.source_account_id = v.account AND p.user_id = v.user_id
        RETURNING p.source_account_id, p.user_id
      )
      INSERT INTO realtime_presence (id, source_account_id, user_id, status, connection_count, last_active_at,
        status_text, status_emoji, updated_at)
      SELECT v.id, v.account, v.user_id, v.status, v.connections, v.active, v.text, v.emoji, now()
        FROM v
       WHERE NOT EXISTS (SELECT 1 FROM updated u WHERE u.source_account_id = v.account AND u.user_id = v.user_id)
      ON CONFLICT (source_account_id, user_id) DO UPDATE SET
        status = EXCLUDED.status, connection_count = EXCLUDED.connection_count,
        last_active_at = GREATEST(realtime_presence.last_active_at, EXCLUDED.last_active_at),
        status_text = COALESCE(EXCLUDED.status_text, realtime_presence.status_text),
        status_emoji = COALESCE(EXCLUDED.status_emoji, realtime_presence.status_emoji),
        updated_at = now()`;
  }

  private async writeTyping(rows: TypingRow[]): Promise<void> {
    const upserts = rows.filter((r) => r.expiresAt);
    const deletes = rows.filter((r) => !r.expiresAt);
    if (upserts.length) {
      const values = upserts.map(
        (r) => Prisma.sql`(${uuidv7()}::uuid, ${r.account}::text, ${r.roomId}::uuid, ${r.threadId ?? ''}::text, ${r.userId}::text, ${r.expiresAt}::timestamptz)`,
      );
      // Joined with realtime_rooms so a room deleted meanwhile is skipped instead of failing the batch.
      await this.prisma.$executeRaw`
        INSERT INTO realtime_typing (id, source_account_id, room_id, thread_id, user_id, started_at, expires_at)
        SELECT v.id, v.account, v.room_id, v.thread_id, v.user_id, now(), v.expires_at
          FROM (VALUES ${Prisma.join(values)}) AS v(id, account, room_id, thread_id, user_id, expires_at)
          JOIN realtime_rooms r ON r.id = v.room_id
        ON CONFLICT (room_id, thread_id, user_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`;
    }
    if (deletes.length) {
      const values = deletes.map((r) => Prisma.sql`(${r.roomId}::uuid, ${r.threadId ?? ''}::text, ${r.userId}::text)`);
      await this.prisma.$executeRaw`
        DELETE FROM realtime_typing t USING (VALUES ${Prisma.join(values)}) AS v(room_id, thread_id, user_id)
         WHERE t.room_id = v.room_id AND t.thread_id = v.thread_id AND t.user_id = v.user_id`;
    }
  }

  private writeRoomSeq(rows: [string, { seq: number; at: Date }][]): Promise<number> {
    const values = rows.map(([roomId, r]) => Prisma.sql`(${roomId}::uuid, ${r.seq}::bigint, ${r.at}::timestamptz)`);
    return this.prisma.$executeRaw`
      UPDATE realtime_rooms r
         SET last_message_seq = GREATEST(r.last_message_seq, v.seq),
             last_message_at = GREATEST(COALESCE(r.last_message_at, v.at), v.at)
        FROM (VALUES ${Prisma.join(values)}) AS v(id, seq, at)
       WHERE r.id = v.id`;
  }

  // A raw multi-row INSERT like the other writes: createMany cost about 150 µs of CPU per row in the
  // query compiler, this about a tenth (a reconnect storm logs two rows per connection).
  private writeEvents(rows: EventLogRow[]): Promise<number> {
    const values = rows.map(
      (r) => Prisma.sql`(${r.account}::text, ${r.eventType}::text, ${r.socketId ?? null}::text, ${r.userId ?? null}::text,
        ${r.roomId ?? null}::uuid, ${this.options.instanceId}::text, ${r.ipAddress ?? null}::text,
        ${JSON.stringify(r.payload ?? {})}::jsonb, ${r.at ?? new Date()}::timestamptz)`,
    );
    return this.prisma.$executeRaw`
      INSERT INTO realtime_events (source_account_id, event_type, socket_id, user_id, room_id, instance_id, ip_address,
        payload, created_at)
      VALUES ${Prisma.join(values)}`;
  }

  /** Marks live sockets as seen (and their latency) so cleanup_stale_connections spares them. */
  async touch(rows: { socketId: string; latencyMs: number | null }[]): Promise<void> {
    for (const part of chunks(rows, 1000)) {
      const values = part.map((r) => Prisma.sql`(${r.socketId}::text, ${r.latencyMs}::int)`);
      try {
        await this.prisma.$executeRaw`
          UPDATE realtime_connections c SET last_seen_at = now(), latency_ms = COALESCE(v.latency, c.latency_ms)
            FROM (VALUES ${Prisma.join(values)}) AS v(socket_id, latency)
           WHERE c.socket_id = v.socket_id AND c.status = 'connected'`;
      } catch (error) {
        this.logger.error({ err: error, rows: part.length }, 'connection touch failed');
      }
    }
  }
}
