import type { PrismaClient } from '@nself/db';
import type { RealtimeState } from '../adapters/state.js';

export interface ClusterStatus {
  instances: { instanceId: string; sockets: number; lastHeartbeatMsAgo: number }[];
  connections: number;
  rooms: { total: number; active: number };
  presence: { online: number; away: number; busy: number; offline: number };
}

/** Cluster-wide figures from Redis (live) and the database mirror; shared by /v1/status and the CLI. */
export async function clusterStatus(state: RealtimeState, prisma: PrismaClient, account: string): Promise<ClusterStatus> {
  const now = Date.now();
  const [instances, rooms, presence] = await Promise.all([
    state.instances(),
    prisma.$queryRaw<{ total: bigint; active: bigint }[]>`
      SELECT count(*) AS total, count(*) FILTER (WHERE is_active) AS active FROM realtime_rooms WHERE source_account_id = ${account}`,
    prisma.$queryRaw<{ online: bigint | null; away: bigint | null; busy: bigint | null; offline: bigint | null }[]>`
      SELECT online, away, busy, offline FROM presence_summary WHERE source_account_id = ${account}`,
  ]);
  return {
    instances: instances.map((i) => ({ instanceId: i.instanceId, sockets: i.sockets, lastHeartbeatMsAgo: Math.max(0, now - i.lastBeatAt) })),
    connections: instances.reduce((sum, i) => sum + i.sockets, 0),
    rooms: { total: Number(rooms[0]?.total ?? 0), active: Number(rooms[0]?.active ?? 0) },
    presence: {
      online: Number(presence[0]?.online ?? 0),
      away: Number(presence[0]?.away ?? 0),
      busy: Number(presence[0]?.busy ?? 0),
      offline: Number(presence[0]?.offline ?? 0),
    },
  };
}
