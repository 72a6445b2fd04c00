import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import amqp from 'amqplib';
import { simpleParser, type ParsedMail } from 'mailparser';
import pg from 'pg';
import { createMemoryLogger } from '@nself/logging';
import { TEST_ADMIN_SECRET, TEST_JWT_SECRET, testInfra, uniqueName } from '@nself/test-support';
import { loadNotificationsConfig, type NotificationsConfig } from '../src/config.js';

/** Env for a notifications process on the test infrastructure, with its own queues and event exchange. */
export function testEnv(overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const infra = testInfra();
  const env: Record<string, string | undefined> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: infra.databaseUrl,
    DATABASE_POOL_SIZE: '5',
    AMQP_URL: infra.amqpUrl,
    EVENTS_EXCHANGE: uniqueName('nt-events'),
    NOTIFICATIONS_QUEUE_PREFIX: uniqueName('nt'),
    JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_SECRET: TEST_ADMIN_SECRET,
    NOTIFICATIONS_PORT: '0',
    NOTIFICATIONS_WORKER_PORT: '0',
    NOTIFICATIONS_POLL_INTERVAL_MS: '200',
    NOTIFICATIONS_RELAY_GRACE_MS: '1000',
    NOTIFICATIONS_DEV_SMTP_SINK: 'false',
    SHUTDOWN_TIMEOUT_MS: '5000',
    ...overrides,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>;
}

export function testConfig(overrides: Record<string, string | undefined> = {}): NotificationsConfig {
  return loadNotificationsConfig(testEnv(overrides));
}

export function quietLogger(service = 'notifications-test') {
  return createMemoryLogger(service).logger;
}

/** Admin-secret headers acting for one app (tests use a fresh account each, so they never collide). */
export function admin(account: string): Record<string, string> {
  return { 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': account };
}

export async function parseMail(raw: string): Promise<ParsedMail> {
  return simpleParser(raw);
}

/** Direct SQL for assertions (and the one fast-forward of a clock in the quiet-hours test). */
export async function withDb<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testInfra().databaseUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  raw: Buffer;
  at: number;
}

export interface StandIn {
  url: string;
  requests: RecordedRequest[];
  /** Answers the next `count` requests with this status and body (then back to the default handler). */
  failNext(count: number, status: number, body?: unknown): void;
  close(): Promise<void>;
}

/**
 * A local HTTP stand-in for a SaaS API (Twilio, FCM, OneSignal, Plivo, SNS): records every request
 * and answers with `handler` (same paths and response shapes as the real service).
 */
export async function startStandIn(
  handler: (req: RecordedRequest) => { status: number; body: unknown; headers?: Record<string, string> },
  options: { tls?: { key: string; cert: string } } = {},
): Promise<StandIn> {
  const requests: RecordedRequest[] = [];
  let failures: { count: number; status: number; body: unknown } = { count: 0, status: 500, body: {} };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        raw: Buffer.concat(chunks),
        at: Date.now(),
      };
      requests.push(recorded);
      let reply: { status: number; body: unknown; headers?: Record<string, string> };
      if (failures.count > 0) {
        failures.count -= 1;
        reply = { status: failures.status, body: failures.body };
      } else {
        reply = handler(recorded);
      }
      const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(text);
    });
  };
  const server: Server = options.tls ? createHttpsServer(options.tls, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    failNext(count, status, body = { message: 'stand-in failure' }) {
      failures = { count, status, body };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Reads (and removes) every message of a queue, e.g. the dead-letter queue. */
export async function drainQueue(queue: string): Promise<amqp.GetMessage[]> {
  const connection = await amqp.connect(testInfra().amqpUrl);
  try {
    const channel = await connection.createChannel();
    const messages: amqp.GetMessage[] = [];
    for (;;) {
      const message = await channel.get(queue, { noAck: true });
      if (!message) break;
      messages.push(message);
    }
    return messages;
  } finally {
    await connection.close();
  }
}

/** Collects the domain events of an exchange into an array (a private, exclusive queue). */
export async function collectEvents(exchange: string): Promise<{ events: Record<string, unknown>[]; close(): Promise<void> }> {
  const connection = await amqp.connect(testInfra().amqpUrl);
  const channel = await connection.createChannel();
  await channel.assertExchange(exchange, 'topic', { durable: true });
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, exchange, 'notification.*');
  const events: Record<string, unknown>[] = [];
  await channel.consume(queue, (m) => {
    if (m) events.push(JSON.parse(m.content.toString('utf8')) as Record<string, unknown>);
  }, { noAck: true });
  return { events, close: () => connection.close() };
}

/** A throwaway CA-less self-signed certificate for 127.0.0.1 (openssl), as key/cert PEM and a CA file. */
export function selfSignedCertificate(): { key: string; cert: string; caFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'nself-tls-'));
  const keyFile = path.join(dir, 'key.pem');
  const certFile = path.join(dir, 'cert.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ], { stdio: 'ignore' });
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), caFile: certFile };
}
