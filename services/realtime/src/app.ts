import type { Express } from 'express';
import { authenticate, type Authenticator } from '@nself/auth';
import type { Health } from '@nself/health';
import { createServiceApp } from '@nself/http';
import type { Logger } from '@nself/logging';
import type { Metrics } from '@nself/metrics';
import { adminRoutes } from './routes/admin.js';
import { presenceRoutes } from './routes/presence.js';
import { roomRoutes } from './routes/rooms.js';
import { statusRoutes, type StatusSource } from './routes/status.js';
import type { ConnectionsService } from './use-cases/connections.js';
import type { MessagesService } from './use-cases/messages.js';
import type { PresenceService } from './use-cases/presence.js';
import type { RoomsService } from './use-cases/rooms.js';

export interface RealtimeAppDeps {
  logger: Logger;
  health: Health;
  metrics: Metrics;
  authenticator: Authenticator;
  rooms: RoomsService;
  messages: MessagesService;
  presence: PresenceService;
  connections: ConnectionsService;
  status: StatusSource;
  corsOrigins?: string[];
}

/** The REST side of the realtime service (Socket.IO attaches to the same HTTP server in main.ts). */
export function createRealtimeApp(deps: RealtimeAppDeps): Express {
  return createServiceApp({
    logger: deps.logger,
    health: deps.health,
    metrics: deps.metrics,
    corsOrigins: deps.corsOrigins,
    routes: (app) => {
      const auth = authenticate(deps.authenticator);
      roomRoutes(app, auth, deps.rooms, deps.messages);
      presenceRoutes(app, auth, deps.presence);
      statusRoutes(app, auth, deps.status);
      adminRoutes(app, auth, deps.connections);
    },
  });
}
