import { createPrisma, type PrismaClient } from '@nself/db';
import type { Logger } from '@nself/logging';
import type { Metrics } from '@nself/metrics';
import type { EventPublisher } from './adapters/events.js';
import { createIdmeProvider, type IdmeProvider } from './adapters/idme-oidc.js';
import { StateStore } from './adapters/state-store.js';
import { VerificationRepository } from './adapters/verification-repository.js';
import { loadBadgeCatalog } from './badges.js';
import type { IdmeConfig } from './config.js';
import { deriveStateKey, SecretBox } from './crypto.js';
import type { IdmeDeps } from './deps.js';
import { createIdmeMetrics } from './metrics.js';

/** Builds the use-case dependencies from config plus the connections the caller owns. */
export function createIdmeDeps(options: {
  config: IdmeConfig;
  logger: Logger;
  metrics: Metrics;
  events: EventPublisher;
  prisma?: PrismaClient;
  provider?: IdmeProvider;
  now?: () => Date;
}): IdmeDeps {
  const { config } = options;
  const prisma = options.prisma ?? createPrisma(config.env.DATABASE_URL);
  const tokenKey = config.tokenEncryptionKey;
  return {
    config,
    logger: options.logger,
    prisma,
    provider: options.provider ?? createIdmeProvider(config.provider, options.logger),
    states: new StateStore(prisma),
    verifications: new VerificationRepository(prisma),
    events: options.events,
    badges: loadBadgeCatalog(config.badgesFile),
    stateBox: new SecretBox(deriveStateKey(tokenKey ?? config.provider.clientSecret)),
    tokenBox: tokenKey ? new SecretBox(tokenKey) : null,
    metrics: createIdmeMetrics(options.metrics),
    now: options.now ?? (() => new Date()),
  };
}
