import type { Authenticator } from '@nself/auth';
import type { PrismaClient } from '@nself/db';
import type { Logger } from '@nself/logging';
import type { Sql } from '../adapters/sql.js';
import type { NotificationsConfig } from '../config.js';
import type { EventPublisher } from '../events.js';
import type { ApiMetrics } from '../metrics.js';

/** What the HTTP layer needs; main.ts wires the real ones, tests their own. */
export interface ApiDeps {
  config: NotificationsConfig;
  prisma: PrismaClient;
  /** The hot path (sends) runs on plain pg. */
  sql: Sql;
  publisher: {
    publishDeliver(ids: string[]): Promise<void>;
    depths?(): Promise<Record<string, number>>;
  };
  authenticator: Authenticator;
  logger: Logger;
  events: EventPublisher | null;
  apiMetrics?: ApiMetrics;
}
