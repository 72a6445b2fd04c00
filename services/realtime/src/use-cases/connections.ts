import { z } from 'zod';
import type { Principal } from '@nself/auth';
import type { PrismaClient } from '@nself/db';
import { Errors, parseInput } from '@nself/errors';
import type { Broadcaster } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import type { RealtimeState } from '../adapters/state.js';

export const listConnectionsInput = z.object({
  userId: z.string().min(1).max(255).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const listEventsInput = z.object({
  type: z.string().min(1).max(100).optional(),
  userId: z.string().min(1).max(255).optional(),
  roomId: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export interface ConnectionView {
  socketId: string;
  userId: string | null;
  instanceId: string;
  transport: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  device: unknown;
  latencyMs: number | null;
  connectedAt: string;
  lastSeenAt: string;
}

export interface EventView {
  id: string;
  eventType: string;
  socketId: string | null;
  userId: string | null;
  roomId: string | null;
  instanceId: string | null;
  ipAddress: string | null;
  payload: unknown;
  createdAt: string;
}

export interface ConnectionsDeps {
  prisma: PrismaClient;
  state: RealtimeState;
  broadcaster: Broadcaster;
  db?: DbWriter;
}

function requireAdmin(principal: Principal): void {
  if (!principal.isAdmin) throw Errors.forbidden('Admin role or admin secret required', 'ADMIN_REQUIRED');
}

/** Admin views over the connection mirror (active_connections) and the event log, and force-disconnect. */
export class ConnectionsService {
  constructor(private readonly deps: ConnectionsDeps) {}

  async list(principal: Principal, query: unknown): Promise<{ connections: ConnectionView[]; total: number }> {
    requireAdmin(principal);
    const data = parseInput(listConnectionsInput, query);
    const account = principal.sourceAccountId;
    const user = data.userId ?? null;
    const [rows, count] = await Promise.all([
      this.deps.prisma.$queryRaw<
        {
          socket_id: string;
          user_id: string | null;
          instance_id: string;
          transport: string | null;
          ip_address: string | null;
          user_agent: string | null;
          device: unknown;
          latency_ms: number | null;
          connected_at: Date;
          last_seen_at: Date;
        }[]
      >`SELECT socket_id, user_id, instance_id, transport, ip_address, user_agent, device, latency_ms, connected_at, last_seen_at
          FROM active_connections
         WHERE source_account_id = ${account} AND (${user}::text IS NULL OR user_id = ${user})
         ORDER BY connected_at DESC LIMIT ${data.limit} OFFSET ${data.offset}`,
      this.deps.prisma.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM active_connections
         WHERE source_account_id = ${account} AND (${user}::text IS NULL OR user_id = ${user})`,
    ]);
    return {
      total: Number(count[0]?.n ?? 0),
      connections: rows.map((r) => ({
        socketId: r.socket_id,
        userId: r.user_id,
        instanceId: r.instance_id,
        transport: r.transport,
        ipAddress: r.ip_address,
        userAgent: r.user_agent,
        device: r.device,
        latencyMs: r.latency_ms,
        connectedAt: r.connected_at.toISOString(),
        lastSeenAt: r.last_seen_at.toISOString(),
      })),
    };
  }

  /** Disconnects a socket on whichever replica holds it (only within the caller's app). */
  async disconnect(principal: Principal, socketId: string): Promise<void> {
    requireAdmin(principal);
    const socket = await this.deps.state.socket(socketId);
    if (!socket || socket.account !== principal.sourceAccountId) throw Errors.notFound('Connection', 'CONNECTION_NOT_FOUND');
    this.deps.broadcaster.disconnectSocket(socketId);
    this.deps.db?.logEvent({
      account: socket.account,
      eventType: 'admin:disconnect',
      socketId,
      userId: socket.userId,
      payload: { by: principal.userId ?? principal.via },
    });
  }

  async events(principal: Principal, query: unknown): Promise<{ events: EventView[] }> {
    requireAdmin(principal);
    const data = parseInput(listEventsInput, query);
    const rows = await this.deps.prisma.realtimeEvent.findMany({
      where: {
        sourceAccountId: principal.sourceAccountId,
        ...(data.type ? { eventType: data.type } : {}),
        ...(data.userId ? { userId: data.userId } : {}),
        ...(data.roomId ? { roomId: data.roomId } : {}),
      },
      orderBy: { id: 'desc' },
      take: data.limit,
    });
    return {
      events: rows.map((r) => ({
        id: r.id.toString(),
        eventType: r.eventType,
        socketId: r.socketId,
        userId: r.userId,
        roomId: r.roomId,
        instanceId: r.instanceId,
        ipAddress: r.ipAddress,
        payload: r.payload,
        createdAt: r.createdAt.toISOString(),
      })),
    };
  }
}
