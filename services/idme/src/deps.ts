import type { PrismaClient } from '@nself/db';
import type { Logger } from '@nself/logging';
import type { EventPublisher } from './adapters/events.js';
import type { IdmeProvider } from './adapters/idme-oidc.js';
import type { StateStore } from './adapters/state-store.js';
import type { VerificationRepository } from './adapters/verification-repository.js';
import type { BadgeCatalog } from './badges.js';
import type { IdmeConfig } from './config.js';
import type { SecretBox } from './crypto.js';
import type { IdmeMetrics } from './metrics.js';

/** Everything the use cases work with; main.ts wires the real ones, tests may swap any. */
export interface IdmeDeps {
  config: IdmeConfig;
  logger: Logger;
  prisma: PrismaClient;
  provider: IdmeProvider;
  states: StateStore;
  verifications: VerificationRepository;
  events: EventPublisher;
  badges: BadgeCatalog;
  /** Seals PKCE verifiers in idme_oauth_states. */
  stateBox: SecretBox;
  /** Seals ID.me tokens at rest; null: tokens are not stored. */
  tokenBox: SecretBox | null;
  metrics: IdmeMetrics;
  now: () => Date;
}
