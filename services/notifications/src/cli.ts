#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import type { Principal } from '@nself/auth';
import { ConfigError } from '@nself/config';
import type { PrismaClient } from '@nself/db';
import { AppError } from '@nself/errors';
import { createLogger } from '@nself/logging';
import { CHANNELS, loadNotificationsConfig, type Channel, type NotificationsConfig } from './config.js';
import { normalizeAddress } from './domain/addresses.js';

// Heavy modules (Prisma, amqplib, provider SDKs) are imported by the commands that need them, so
// `--help` and small commands start quickly.
const DEFAULT_SOURCE_ACCOUNT = 'primary';

const TEST_TEMPLATE = {
  name: 'nself-test',
  category: 'transactional',
  subject: 'nself notifications test',
  bodyText: 'This is a test notification sent {{sentAt}}.',
  bodyHtml: '<p>This is a test notification sent {{sentAt}}.</p>',
  pushTitle: 'nself notifications test',
  pushBody: 'Test notification sent {{sentAt}}',
  smsBody: 'nself notifications test, sent {{sentAt}}',
  variables: [{ name: 'sentAt', required: true }],
};

const logger = createLogger({ service: 'notifications-cli', level: process.env.LOG_LEVEL ?? 'warn' });

function config(): NotificationsConfig {
  return loadNotificationsConfig();
}

async function withPrisma<T>(fn: (prisma: PrismaClient, c: NotificationsConfig) => Promise<T>): Promise<T> {
  const c = config();
  const { createPrisma } = await import('@nself/db');
  const prisma = createPrisma(c.env.DATABASE_URL, { maxConnections: 2 });
  try {
    return await fn(prisma, c);
  } finally {
    await prisma.$disconnect();
  }
}

function principal(account: string): Principal {
  return { userId: null, roles: ['admin'], isAdmin: true, sourceAccountId: account, via: 'admin-secret' };
}

function print(value: unknown, json: boolean): void {
  console.log(json ? JSON.stringify(value, null, 2) : value);
}

function channelFor(to: string): Channel {
  if (normalizeAddress('email', to)) return 'email';
  if (normalizeAddress('sms', to)) return 'sms';
  return 'push';
}

const program = new Command()
  .name('nself-notifications')
  .description('nself notifications: email, push and SMS over RabbitMQ (env: see .env.example)')
  .version('1.0.0');

program
  .command('init')
  .description('apply the database migrations (all services share one migration history)')
  .action(async () => {
    const { applyMigrations } = await import('@nself/db');
    const output = await applyMigrations(config().env.DATABASE_URL);
    console.log(output.trim() || 'migrations applied');
  });

program
  .command('server')
  .description(`start the API (NOTIFICATIONS_PORT, default 3102)`)
  .action(async () => {
    const { startApi } = await import('./runtime.js');
    const api = await startApi(config());
    api.shutdown.installSignalHandlers();
  });

program
  .command('worker')
  .description('start the delivery worker (health/metrics on NOTIFICATIONS_WORKER_PORT, default 3112)')
  .action(async () => {
    const { startWorker } = await import('./runtime.js');
    const worker = await startWorker(config());
    worker.shutdown.installSignalHandlers();
  });

const template = program.command('template').description('manage templates');

template
  .command('create')
  .description('create a template (from options or a JSON file with the API body)')
  .argument('[name]', 'template name (or "name" in --file)')
  .option('-f, --file <path>', 'JSON file with the template (same body as POST /v1/templates)')
  .option('--subject <text>', 'email subject')
  .option('--text <text>', 'email text body')
  .option('--html <html>', 'email HTML body (values are HTML-escaped)')
  .option('--push-title <text>', 'push title')
  .option('--push-body <text>', 'push body')
  .option('--sms <text>', 'SMS body')
  .option('--category <category>', 'category', 'general')
  .option('--variables <list>', 'declared variables: "name,plan?" (a trailing ? marks optional)')
  .option('--account <id>', 'source account (app)', DEFAULT_SOURCE_ACCOUNT)
  .option('--json', 'print JSON')
  .action(async (name: string | undefined, o: Record<string, string | boolean | undefined>) => {
    const fromFile = o.file ? (JSON.parse(readFileSync(String(o.file), 'utf8')) as Record<string, unknown>) : {};
    const variables = typeof o.variables === 'string'
      ? o.variables.split(',').map((v) => v.trim()).filter(Boolean).map((v) => ({ name: v.replace(/\?$/, ''), required: !v.endsWith('?') }))
      : undefined;
    const body = {
      ...fromFile,
      ...(name ? { name } : {}),
      ...(o.subject !== undefined ? { subject: o.subject } : {}),
      ...(o.text !== undefined ? { bodyText: o.text } : {}),
      ...(o.html !== undefined ? { bodyHtml: o.html } : {}),
      ...(o.pushTitle !== undefined ? { pushTitle: o.pushTitle } : {}),
      ...(o.pushBody !== undefined ? { pushBody: o.pushBody } : {}),
      ...(o.sms !== undefined ? { smsBody: o.sms } : {}),
      ...(fromFile.category ? {} : { category: o.category }),
      ...(variables ? { variables } : {}),
    };
    const { createTemplate } = await import('./use-cases/templates.js');
    const created = await withPrisma((prisma) => createTemplate(prisma, String(o.account), body));
    if (o.json) print(created, true);
    else console.log(`created template "${created.name}" v${created.version} (${created.channels.join(', ')}; variables: ${created.variables.map((v) => v.name).join(', ') || 'none'})`);
  });

template
  .command('list')
  .description('list templates')
  .option('--account <id>', 'source account (app)', DEFAULT_SOURCE_ACCOUNT)
  .option('--category <category>', 'only this category')
  .option('--json', 'print JSON')
  .action(async (o: { account: string; category?: string; json?: boolean }) => {
    const { listTemplates } = await import('./use-cases/templates.js');
    const result = await withPrisma((prisma) => listTemplates(prisma, o.account, { category: o.category, limit: 500 }));
    if (o.json) return print(result, true);
    if (!result.items.length) return console.log('no templates');
    console.table(
      result.items.map((t) => ({ name: t.name, version: t.version, category: t.category, channels: t.channels.join(','), active: t.isActive, updated: t.updatedAt })),
    );
  });

program
  .command('test')
  .description('send a test notification to an address (email, E.164 phone, or push token/subscription)')
  .argument('<to>', 'recipient address')
  .addOption(new Option('--channel <channel>', 'channel (inferred from the address)').choices([...CHANNELS]))
  .option('--template <name>', 'template to use (default: a built-in test template)')
  .option('--data <json>', 'template data as JSON', '{}')
  .option('--account <id>', 'source account (app)', DEFAULT_SOURCE_ACCOUNT)
  .option('--direct', 'send right here through the configured providers (no queue, no worker): checks provider settings')
  .option('--timeout <seconds>', 'how long to wait for the worker to deliver it', '30')
  .action(async (to: string, o: { channel?: Channel; template?: string; data: string; account: string; direct?: boolean; timeout: string }) => {
    const channel = o.channel ?? channelFor(to);
    const data = { sentAt: new Date().toISOString(), ...(JSON.parse(o.data) as Record<string, unknown>) };
    const { createTemplate, loadActiveTemplate, toSource } = await import('./use-cases/templates.js');
    await withPrisma(async (prisma, c) => {
      const name = o.template ?? TEST_TEMPLATE.name;
      if (!o.template) {
        const exists = await prisma.notificationTemplate.findUnique({ where: { sourceAccountId_name: { sourceAccountId: o.account, name } } });
        if (!exists) await createTemplate(prisma, o.account, TEST_TEMPLATE);
      }
      if (o.direct) {
        const { startSmtpSink } = await import('./adapters/smtp-sink.js');
        const { createProviders } = await import('./providers/registry.js');
        const { renderForChannel } = await import('./domain/templates.js');
        const { uuidv7 } = await import('./domain/ids.js');
        const address = normalizeAddress(channel, to);
        if (!address) throw new AppError('INVALID_ADDRESS', 400, `${to} is not a valid ${channel} address`);
        const source = toSource(await loadActiveTemplate((text, params) => prisma.$queryRawUnsafe(text, ...params), o.account, name));
        const sink = c.emailProviders.length && !c.env.NOTIFICATIONS_SMTP_URL && c.env.NOTIFICATIONS_DEV_SMTP_SINK
          ? await startSmtpSink({ port: 0, dir: c.env.NOTIFICATIONS_DEV_SMTP_DIR, logger })
          : null;
        const providers = createProviders(c, c.env.NOTIFICATIONS_SMTP_URL ?? sink?.url).filter((p) => p.channel === channel && p.accepts(address));
        if (!providers.length) throw new Error(`no ${channel} provider is configured for ${to}`);
        try {
          for (const provider of providers) {
            const started = Date.now();
            try {
              const result = await provider.send({
                notificationId: uuidv7(),
                sourceAccountId: o.account,
                userId: 'cli-test',
                channel,
                to: address,
                content: renderForChannel(source, channel, data),
                category: 'transactional',
              });
              console.log(`${provider.name}: sent in ${Date.now() - started} ms (message id ${result.messageId ?? 'n/a'})`);
            } catch (error) {
              console.log(`${provider.name}: FAILED: ${(error as Error).message}`);
              process.exitCode = 1;
            }
          }
          if (sink) console.log(`(no SMTP configured: the email was written to ${sink.dir})`);
        } finally {
          await Promise.all(providers.map((p) => p.close?.()));
          await sink?.close();
        }
        return;
      }
      const { AmqpConnection } = await import('@nself/events');
      const { NotificationQueue } = await import('./adapters/queue.js');
      const { sendNotification } = await import('./use-cases/send.js');
      const { createSql } = await import('./adapters/sql.js');
      const sql = createSql(c.env.DATABASE_URL, { max: 2 });
      const queue = new NotificationQueue(new AmqpConnection(c.queueUrl, logger, { name: 'notifications-cli' }), {
        prefix: c.env.NOTIFICATIONS_QUEUE_PREFIX,
        maxAttempts: c.env.NOTIFICATIONS_MAX_ATTEMPTS,
        logger,
        publishTimeoutMs: c.env.NOTIFICATIONS_PUBLISH_TIMEOUT_MS,
      });
      try {
        await queue.start();
        const key = channel === 'email' ? 'email' : channel === 'sms' ? 'phone' : 'push';
        const result = await sendNotification(
          { sql, publisher: queue, config: c, logger },
          principal(o.account),
          { userId: 'cli-test', template: name, channel, data, priority: 'critical', to: { [key]: to } },
        );
        const id = String(result.body.id);
        console.log(`queued ${id}; waiting for a worker to deliver it…`);
        const deadline = Date.now() + Number(o.timeout) * 1000;
        for (;;) {
          const row = await prisma.notification.findUniqueOrThrow({ where: { id } });
          if (['sent', 'delivered', 'failed', 'bounced', 'skipped'].includes(row.status)) {
            console.log(`${row.status}${row.provider ? ` via ${row.provider}` : ''} after ${row.attempts} attempt(s)${row.lastError ? `: ${row.lastError}` : ''}`);
            if (row.status === 'failed' || row.status === 'skipped') process.exitCode = 1;
            return;
          }
          if (Date.now() > deadline) {
            console.log(`still ${row.status} after ${o.timeout} s: is a worker running (nself-notifications worker)?`);
            process.exitCode = 1;
            return;
          }
          await new Promise((r) => setTimeout(r, 250));
        }
      } finally {
        await queue.close();
        await sql.close();
      }
    });
  });

program
  .command('stats')
  .description('delivery statistics of an app')
  .option('--account <id>', 'source account (app)', DEFAULT_SOURCE_ACCOUNT)
  .option('--hours <n>', 'window in hours', '24')
  .option('--json', 'print JSON')
  .action(async (o: { account: string; hours: string; json?: boolean }) => {
    const { getStats } = await import('./use-cases/stats.js');
    const stats = await withPrisma((prisma) => getStats(prisma, o.account, { hours: o.hours }));
    if (o.json) return print(stats, true);
    console.log(`last ${stats.windowHours} h, app "${o.account}": ${stats.total} notifications`);
    console.table(stats.byChannel);
    if (Object.keys(stats.attemptsByProvider).length) console.table(stats.attemptsByProvider);
    const { p50, p99 } = stats.sendLatencyMs;
    if (p50 !== null) console.log(`accepted → sent: p50 ${Math.round(p50)} ms, p99 ${Math.round(p99 ?? 0)} ms`);
  });

program.parseAsync().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else if (error instanceof AppError) {
    console.error(`${error.code}: ${error.message}`);
    for (const e of error.extra.errors ?? []) console.error(`  - ${e.field}: ${e.message}`);
  } else console.error(error);
  process.exit(1);
});
