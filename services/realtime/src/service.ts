import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createAuthenticator } from '@nself/auth';
import { checkDatabase, createPrisma, type PrismaClient } from '@nself/db';
import { EventBus } from '@nself/events';
import { createHealth, type Health } from '@nself/health';
import { closeServer } from '@nself/http';
import { createLogger, type Logger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { createRealtimeApp } from './app.js';
import { DeferredBroadcaster } from './adapters/broadcaster.js';
import { DbWriter } from './adapters/db-writer.js';
import { checkRedis, closeRedis, createRedis } from './adapters/redis.js';
import { RoomsRepository } from './adapters/rooms-repo.js';
import { RealtimeState } from './adapters/state.js';
import type { RealtimeConfig } from './config.js';
import { createKeys } from './keys.js';
import { startMaintenance } from './maintenance.js';
import { createRealtimeMetrics } from './metrics.js';
import { createSocketServer, type RealtimeSocketServer } from './socket/server.js';
import { ConnectionsService } from './use-cases/connections.js';
import { MessagesService } from './use-cases/messages.js';
import { PresenceService } from './use-cases/presence.js';
import { createRelayHandler } from './use-cases/relay.js';
import { RoomsService } from './use-cases/rooms.js';
import { clusterStatus } from './use-cases/status.js';
import { TypingService } from './use-cases/typing.js';

export interface RealtimeService {
  config: RealtimeConfig;
  logger: Logger;
  app: Express;
  httpServer: HttpServer;
  health: Health;
  sockets: RealtimeSocketServer;
  state: RealtimeState;
  prisma: PrismaClient;
  db: DbWriter;
  rooms: RoomsService;
  /** Listens (port 0 picks one), starts the periodic work and the event relay; resolves with the port. */
  start(): Promise<number>;
  /** Graceful stop in order: not ready → stop accepting → sockets drained → relay → Redis state → DB flush → clients closed. */
  stop(): Promise<void>;
}

export interface RealtimeServiceOptions {
  logger?: Logger;
}

/** Wires the realtime service from its configuration: the composition root shared by main.ts and tests. */
export function createRealtimeService(config: RealtimeConfig, options: RealtimeServiceOptions = {}): RealtimeService {
  const env = config.env;
  const logger = options.logger ?? createLogger({ service: 'realtime', level: env.LOG_LEVEL });
  const prisma = createPrisma(config.databaseUrl);
  const redis = createRedis(config.redisUrl, logger, 'realtime');
  // The adapter publishes one message per broadcast from its own event-loop turn: auto-pipelining would
  // build a Pipeline per publish and batch nothing (measured: replicas 28 % instead of 31 % of a core at
  // 10,000 deliveries/s, p99 via the gateway 29–46 ms instead of 54 ms). Room log appends (one per
  // message, and each publishes) go out on the same client, so that a replica's publications leave in
  // the order it made them; they are batched per event-loop turn by corking the socket instead
  // (corkUntilCheckPhase). The state client keeps auto-pipelining: the connect burst batches there, and
  // turning it off cost more CPU in Redis and the replicas.
  const pubClient = createRedis(config.redisUrl, logger, 'realtime-pub', { enableAutoPipelining: false });
  const subClient = createRedis(config.redisUrl, logger, 'realtime-sub', { enableAutoPipelining: false });
  const keys = createKeys(config.keyPrefix);
  const state = new RealtimeState(redis, keys, {
    historySize: env.REALTIME_HISTORY_SIZE,
    historyTtlMs: env.REALTIME_HISTORY_TTL_SECONDS * 1000,
    typingTimeoutMs: env.REALTIME_TYPING_TIMEOUT_MS,
  }, pubClient);
  const metrics = createMetrics('realtime');
  const authenticator = createAuthenticator(config.auth);
  const broadcaster = new DeferredBroadcaster();
  // The socket server is created last (it needs the app); gauges and status read it through this holder.
  const live: { sockets?: RealtimeSocketServer } = {};
  const localRooms = () => {
    let count = 0;
    for (const name of live.sockets?.io.of('/').adapter.rooms.keys() ?? []) if (name.includes(':room:')) count += 1;
    return count;
  };
  const rtMetrics = createRealtimeMetrics(metrics, {
    connections: () => live.sockets?.io.engine.clientsCount ?? 0,
    rooms: localRooms,
    pendingDbWrites: () => db.pending,
  });
  const db = new DbWriter(prisma, logger, {
    instanceId: config.instanceId,
    flushMs: env.REALTIME_DB_FLUSH_MS,
    bufferMax: env.REALTIME_DB_BUFFER_MAX,
    logEvents: env.REALTIME_LOG_EVENTS,
    onDropped: (n) => rtMetrics.dbDropped.inc(n),
  });
  const repo = new RoomsRepository(prisma);
  const rooms = new RoomsService({ repo, state, broadcaster, db });
  const messages = new MessagesService(
    { state, rooms, broadcaster, db },
    {
      maxMessageBytes: env.REALTIME_MAX_MESSAGE_BYTES,
      historySize: env.REALTIME_HISTORY_SIZE,
      logMessages: db.logs('message:send'),
    },
  );
  const presence = new PresenceService({ state, rooms, broadcaster, db });
  const typing = new TypingService({ state, broadcaster, db });
  const connections = new ConnectionsService({ prisma, state, broadcaster, db });
  const bus = config.amqpUrl
    ? new EventBus({ url: config.amqpUrl, logger, service: 'realtime', exchange: env.EVENTS_EXCHANGE })
    : undefined;

  const health = createHealth({
    database: () => checkDatabase(prisma),
    redis: () => checkRedis(redis),
    ...(bus ? { rabbitmq: () => bus.check() } : {}),
  });

  const app = createRealtimeApp({
    logger,
    health,
    metrics,
    authenticator,
    rooms,
    messages,
    presence,
    connections,
    corsOrigins: config.corsOrigins,
    status: {
      local: () => ({
        instanceId: config.instanceId,
        connections: live.sockets?.io.engine.clientsCount ?? 0,
        rooms: localRooms(),
        eventsPerSecond: Math.round(rtMetrics.clientEventRate.perSecond() * 10) / 10,
        pendingDbWrites: db.pending,
        uptimeSeconds: Math.round(process.uptime()),
      }),
      cluster: (account) => clusterStatus(state, prisma, account),
    },
  });
  const httpServer = createServer(app);
  // Longer than the gateway's pooled keep-alive connections stay idle, so this side never closes a
  // connection the gateway is about to reuse (that race surfaces as a 502 on the gateway).
  httpServer.keepAliveTimeout = 65_000;
  httpServer.headersTimeout = 66_000;
  const socketServer = createSocketServer(
    httpServer,
    {
      config,
      logger,
      authenticator,
      state,
      rooms,
      messages,
      presence,
      typing,
      db,
      metrics: rtMetrics,
      pubClient,
      subClient,
    },
    (target) => broadcaster.bind(target),
  );
  live.sockets = socketServer;
  let maintenance: ReturnType<typeof startMaintenance> | undefined;

  return {
    config,
    logger,
    app,
    httpServer,
    health,
    sockets: socketServer,
    state,
    prisma,
    db,
    rooms,
    async start() {
      // Prisma compiles its query plans on first use (about a second): pay that before taking traffic.
      await prisma.realtimeRoom
        .findFirst({ select: { id: true } })
        .then(() => prisma.realtimeRoomMember.findFirst({ where: { roomId: '00000000-0000-0000-0000-000000000000', userId: '' } }))
        .catch((error: unknown) => logger.warn({ err: error }, 'database warm-up failed; continuing'));
      await maintenance?.stop();
      maintenance = startMaintenance({ config, logger, state, sockets: socketServer, presence, typing, db, prisma });
      await maintenance.heartbeatNow();
      db.start();
      if (bus) {
        await bus.start();
        await bus.subscribe({
          queue: env.REALTIME_RELAY_QUEUE,
          bindings: env.REALTIME_RELAY_EVENTS,
          handler: createRelayHandler({ broadcaster, logger, db, onRelayed: (type) => rtMetrics.relayed.inc({ type }) }),
        });
      }
      await new Promise<void>((resolve, reject) => {
        httpServer.once('error', reject);
        // A deep accept queue: after a replica dies thousands of clients reconnect at once.
        httpServer.listen({ port: config.port, host: config.host, backlog: 2048 }, () => {
          httpServer.off('error', reject);
          resolve();
        });
      });
      const port = (httpServer.address() as AddressInfo).port;
      logger.info({ port, instanceId: config.instanceId, transports: env.REALTIME_TRANSPORTS }, 'realtime listening');
      return port;
    },
    async stop() {
      health.markShuttingDown();
      const closing = closeServer(httpServer, 2000);
      await maintenance?.stop();
      await socketServer.drain();
      await new Promise<void>((resolve) => {
        void socketServer.io.close(() => resolve());
      });
      await closing;
      await bus?.close();
      await state.deregisterInstance(config.instanceId).catch(() => undefined);
      await db.stop();
      await Promise.all([closeRedis(redis), closeRedis(pubClient), closeRedis(subClient)]);
      await prisma.$disconnect();
    },
  };
}
