import type { PrismaClient } from '@nself/db';
import type { Logger } from '@nself/logging';
import type { DbWriter } from './adapters/db-writer.js';
import type { RealtimeState } from './adapters/state.js';
import type { RealtimeConfig } from './config.js';
import type { RealtimeSocketServer } from './socket/server.js';
import type { PresenceService } from './use-cases/presence.js';
import type { TypingService } from './use-cases/typing.js';

export interface MaintenanceDeps {
  config: RealtimeConfig;
  logger: Logger;
  state: RealtimeState;
  sockets: RealtimeSocketServer;
  presence: PresenceService;
  typing: TypingService;
  db: DbWriter;
  prisma: PrismaClient;
}

const TYPING_SWEEP_MS = 200;

/** Runs fn every ms (no overlap: a slow run delays the next); errors are logged, never thrown. */
function every(ms: number, logger: Logger, what: string, fn: () => Promise<unknown>): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();
  const tick = () => {
    running = fn()
      .catch((error: unknown) => logger.warn({ err: error, what }, 'periodic task failed'))
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, ms).unref();
      });
  };
  timer = setTimeout(tick, ms).unref();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}

/**
 * The periodic work of a replica:
 * - instance heartbeat (and re-registration if another replica reaped us during a stall);
 * - reaping replicas whose heartbeat stopped: their sockets leave presence and rooms;
 * - typing expiry and online → away after inactivity (each entry handled by one replica only);
 * - touching this replica's connection rows, and (one replica at a time) the database cleanup functions.
 */
export function startMaintenance(deps: MaintenanceDeps): { stop: () => Promise<void>; heartbeatNow: () => Promise<void> } {
  const { config, logger, state, sockets } = deps;
  const env = config.env;
  let registered = false;

  const heartbeat = async () => {
    const absent = await state.heartbeat(config.instanceId);
    if (absent && registered) {
      logger.warn({ instanceId: config.instanceId }, 'this replica was reaped by another one; re-registering its sockets');
      await sockets.reRegister();
    }
    registered = true;
  };

  const reap = async () => {
    const dead = await state.deadInstances(env.REALTIME_INSTANCE_TTL_MS);
    for (const instanceId of dead) {
      if (instanceId === config.instanceId) continue;
      const reaped = await state.reapInstance(instanceId, env.REALTIME_INSTANCE_TTL_MS);
      if (reaped.length === 0) continue;
      logger.warn({ instanceId, sockets: reaped.length }, 'reaped the connections of a replica that stopped answering');
      await sockets.applyReaped(reaped);
    }
  };

  const away = async () => {
    for (const { account, userId } of await state.sweepAway(env.REALTIME_AWAY_AFTER_MS)) {
      await deps.presence.publish(account, userId);
    }
  };

  const touch = async () => {
    await deps.db.touch(sockets.localSockets().map((s) => ({ socketId: s.id, latencyMs: s.data.latencyMs })));
  };

  const cleanup = async () => {
    const lockTtl = Math.max(env.REALTIME_CLEANUP_INTERVAL_MS * 2, 10_000);
    if (!(await state.lock(state.keys.maintenanceLock, config.instanceId, lockTtl))) return;
    const seconds = (n: number) => `${n} seconds`;
    const [typing, stale, presence, events, connections] = await Promise.all([
      deps.prisma.$queryRaw<{ n: number }[]>`SELECT cleanup_expired_typing() AS n`,
      deps.prisma.$queryRaw<{ n: number }[]>`SELECT cleanup_stale_connections(${seconds(env.REALTIME_STALE_CONNECTION_SECONDS)}::interval) AS n`,
      deps.prisma.$queryRaw<{ n: number }[]>`SELECT update_presence_from_activity(${seconds(Math.round(env.REALTIME_AWAY_AFTER_MS / 1000))}::interval) AS n`,
      deps.prisma.$queryRaw<{ n: number }[]>`SELECT cleanup_old_events(${seconds(env.REALTIME_EVENT_RETENTION_DAYS * 86400)}::interval) AS n`,
      deps.prisma.$queryRaw<{ n: number }[]>`SELECT cleanup_disconnected_connections(${seconds(env.REALTIME_CONNECTION_RETENTION_DAYS * 86400)}::interval) AS n`,
    ]);
    logger.info(
      {
        expiredTyping: typing[0]?.n,
        staleConnections: stale[0]?.n,
        presenceChanged: presence[0]?.n,
        oldEvents: events[0]?.n,
        oldConnections: connections[0]?.n,
      },
      'database cleanup done',
    );
  };

  const stops = [
    every(env.REALTIME_INSTANCE_HEARTBEAT_MS, logger, 'heartbeat', heartbeat),
    every(env.REALTIME_INSTANCE_HEARTBEAT_MS, logger, 'reaper', reap),
    every(TYPING_SWEEP_MS, logger, 'typing expiry', () => deps.typing.sweep()),
    every(Math.min(15_000, Math.max(250, Math.round(env.REALTIME_AWAY_AFTER_MS / 4))), logger, 'away sweep', away),
    every(env.REALTIME_CONNECTION_TOUCH_MS, logger, 'connection touch', touch),
    every(env.REALTIME_CLEANUP_INTERVAL_MS, logger, 'database cleanup', cleanup),
  ];
  return {
    heartbeatNow: heartbeat,
    async stop() {
      await Promise.all(stops.map((stop) => stop()));
    },
  };
}
