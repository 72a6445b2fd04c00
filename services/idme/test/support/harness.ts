/**
 * The idme service wired with its real dependencies (Postgres, RabbitMQ, openid-client) against the
 * ID.me-like provider on loopback, listening on a free port so the provider can redirect back to it.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAuthenticator } from '@nself/auth';
import { checkDatabase } from '@nself/db';
import { EventBus } from '@nself/events';
import { createHealth } from '@nself/health';
import { createLogger, createMemoryLogger, type Logger } from '@nself/logging';
import { createMetrics } from '@nself/metrics';
import { signTestToken, TEST_ADMIN_SECRET, TEST_JWT_SECRET, uniqueName } from '@nself/test-support';
import type { Express } from 'express';
import { createIdmeApp } from '../../src/app.js';
import { loadIdmeConfig, type IdmeConfig } from '../../src/config.js';
import type { IdmeDeps } from '../../src/deps.js';
import { createIdmeDeps } from '../../src/wiring.js';
import { signInAtProvider, TestBrowser, type Hop } from './browser.js';
import { ACCOUNTS, IDME_SCOPES, startFakeIdme, type FakeIdme } from './fake-idme.js';

export const RETURN_URL = 'https://app.example.test/after-idme';
export const CLIENT_ID = 'nself-idme-test-client';
export const CLIENT_SECRET = 'nself-idme-test-client-secret-0123456789';

export interface HarnessOptions {
  databaseUrl: string;
  amqpUrl: string;
  /** Store tokens encrypted (IDME_TOKEN_ENCRYPTION_KEY); without it they are not stored. */
  tokenKey?: boolean;
  webhookSecret?: string;
  env?: Record<string, string>;
  /** Capture log lines in memory (tests) instead of discarding them. */
  memoryLogger?: boolean;
}

export interface Harness {
  baseUrl: string;
  redirectUri: string;
  app: Express;
  deps: IdmeDeps;
  config: IdmeConfig;
  fake: FakeIdme;
  events: EventBus;
  exchange: string;
  logLines: Record<string, unknown>[];
  env: Record<string, string>;
  close(): Promise<void>;
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const redirectUri = `${baseUrl}/v1/auth/callback`;
  const fake = await startFakeIdme({ clients: [{ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUris: [redirectUri] }] });
  for (const [name, account] of Object.entries(ACCOUNTS)) fake.addAccount(name, account);

  const exchange = uniqueName('idme-events');
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: options.databaseUrl,
    AMQP_URL: options.amqpUrl,
    EVENTS_EXCHANGE: exchange,
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_SECRET: TEST_ADMIN_SECRET,
    IDME_CLIENT_ID: CLIENT_ID,
    IDME_CLIENT_SECRET: CLIENT_SECRET,
    IDME_REDIRECT_URI: redirectUri,
    IDME_SCOPES: IDME_SCOPES.join(','),
    IDME_BASE_URL: fake.baseUrl,
    IDME_ALLOW_INSECURE_HTTP: 'true',
    IDME_ALLOWED_RETURN_URLS: `${RETURN_URL},https://app.example.test/settings/`,
    IDME_COOKIE_SECURE: 'false',
    ...(options.tokenKey ? { IDME_TOKEN_ENCRYPTION_KEY: randomBytes(32).toString('base64') } : {}),
    ...(options.webhookSecret ? { IDME_WEBHOOK_SECRET: options.webhookSecret } : {}),
    ...options.env,
  };
  const config = loadIdmeConfig(env);
  let logger: Logger;
  let logLines: Record<string, unknown>[] = [];
  if (options.memoryLogger) {
    const memory = createMemoryLogger('idme');
    logger = memory.logger;
    logLines = memory.lines;
  } else {
    logger = createLogger({ service: 'idme', level: 'silent' });
  }
  const metrics = createMetrics('idme');
  const events = new EventBus({ url: config.env.AMQP_URL, logger, service: 'idme', exchange });
  await events.start();
  const deps = createIdmeDeps({ config, logger, metrics, events });
  const health = createHealth({ database: () => checkDatabase(deps.prisma), rabbitmq: () => events.check() });
  const app = createIdmeApp({ deps, authenticator: createAuthenticator(config.auth), health, metrics });
  server.on('request', app);

  return {
    baseUrl,
    redirectUri,
    app,
    deps,
    config,
    fake,
    events,
    exchange,
    logLines,
    env,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fake.close();
      await events.close();
      await deps.prisma.$disconnect();
    },
  };
}

export interface FlowUser {
  userId: string;
  account: string;
}

export function newUser(): FlowUser {
  return { userId: uniqueName('user'), account: uniqueName('app') };
}

export function tokenFor(user: FlowUser, roles = ['user']): string {
  return signTestToken({ sub: user.userId, sourceAccountId: user.account, roles });
}

/** GET /v1/auth/start as the user from `browser`; returns the hop (302 to ID.me expected). */
export function startFlow(h: Harness, browser: TestBrowser, user: FlowUser, returnTo?: string): Promise<Hop> {
  const query = returnTo === undefined ? '' : `?returnTo=${encodeURIComponent(returnTo)}`;
  return browser.get(`${h.baseUrl}/v1/auth/start${query}`, { authorization: `Bearer ${tokenFor(user)}` });
}

/** Start → sign in at the provider as `idmeAccount` → the callback URL (not yet followed). */
export async function reachCallback(
  h: Harness,
  browser: TestBrowser,
  user: FlowUser,
  idmeAccount: string,
  tamperAuthorizationUrl?: (url: URL) => void,
): Promise<string> {
  const start = await startFlow(h, browser, user);
  if (start.status !== 302 || !start.location) throw new Error(`start answered ${start.status}: ${start.text}`);
  const authorizationUrl = new URL(start.location);
  tamperAuthorizationUrl?.(authorizationUrl);
  return signInAtProvider(browser, authorizationUrl.href, idmeAccount, h.redirectUri);
}

/** The whole browser flow; returns the callback's answer. */
export async function verifyThroughBrowser(h: Harness, user: FlowUser, idmeAccount: string): Promise<{ browser: TestBrowser; callback: Hop }> {
  const browser = new TestBrowser();
  const callbackUrl = await reachCallback(h, browser, user, idmeAccount);
  return { browser, callback: await browser.get(callbackUrl) };
}

/** Rows the callback writes for a user (all four tables). */
export async function persistedRows(h: Harness, user: FlowUser): Promise<{ verifications: number; groups: number; badges: number; attributes: number }> {
  const where = { sourceAccountId: user.account, userId: user.userId };
  const [verifications, groups, badges, attributes] = await Promise.all([
    h.deps.prisma.idmeVerification.count({ where }),
    h.deps.prisma.idmeGroup.count({ where }),
    h.deps.prisma.idmeBadge.count({ where }),
    h.deps.prisma.idmeAttribute.count({ where }),
  ]);
  return { verifications, groups, badges, attributes };
}
