import type { PrismaClient } from '@nself/db';
import { Prisma } from '@nself/db';
import type { Logger } from '@nself/logging';
import { MARK_DISPATCHED_SQL } from '../adapters/delivery-store.js';
import type { NotificationQueue } from '../adapters/queue.js';
import type { Channel } from '../config.js';
import { uuidv7 } from '../domain/ids.js';
import { optedOut, quietHoursEnd, resolvePreference, type PreferenceRow } from '../domain/preferences.js';
import type { Priority } from '../domain/types.js';
import { DEFAULT_DIGEST_TEMPLATE, prepareData, renderForChannel, type TemplateSource } from '../domain/templates.js';
import type { RenderedContent } from '../domain/types.js';
import { toSource } from './templates.js';

export interface DispatcherDeps {
  prisma: PrismaClient;
  queue: Pick<NotificationQueue, 'publishDeliver' | 'publishRelay' | 'publishExpiredClaims'>;
  logger: Logger;
  options: {
    intervalMs: number;
    /** Rows the API committed but could not publish are relayed after this long. */
    relayGraceMs: number;
    chunk: number;
    maxAttempts: number;
    digestTemplate: string;
    leaseMs: number;
    /** Only rows of this queue namespace are this dispatcher's (deployments may share a database). */
    queuePrefix: string;
  };
}

const LIMIT = 1000;

/**
 * The worker's periodic duties, all safe to run in several replicas at once (row locks with SKIP
 * LOCKED, advisory locks per digest):
 *  - release deferred notifications whose time has come (scheduled sends, end of quiet hours),
 *  - relay committed-but-unpublished rows to RabbitMQ (the outbox: the API commits, then publishes),
 *  - close digests that are due and queue the one message that carries them,
 *  - re-offer rows whose claim expired long ago (a worker died and its message is gone),
 *  - drop idempotency keys past their lifetime.
 */
export function createDispatcher(deps: DispatcherDeps) {
  const { prisma, queue, logger, options } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let lastCleanup = 0;

  async function publishChunks(ids: string[], reason: 'relay' | 'scheduled'): Promise<void> {
    for (let i = 0; i < ids.length; i += options.chunk) {
      const slice = ids.slice(i, i + options.chunk);
      // Relayed rows may be first deliveries or retries whose message was never published: any
      // attempt count is right for them.
      if (reason === 'relay') await queue.publishRelay(slice);
      else await queue.publishDeliver(slice, reason);
    }
  }

  async function markDispatched(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await prisma.$executeRawUnsafe(MARK_DISPATCHED_SQL, ids);
  }

  /** The current preferences of some users (rows of several apps at once). */
  async function preferencesOf(pairs: { account: string; user: string }[]): Promise<Map<string, PreferenceRow[]>> {
    const byUser = new Map<string, PreferenceRow[]>();
    if (!pairs.length) return byUser;
    const rows = await prisma.$queryRawUnsafe<(PreferenceRow & { account: string })[]>(
      `SELECT source_account_id AS account, user_id AS "userId", channel, category, enabled, address,
              quiet_hours_start AS "quietHoursStart", quiet_hours_end AS "quietHoursEnd", timezone,
              digest_frequency AS "digestFrequency"
         FROM notification_preferences
        WHERE (source_account_id, user_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
      pairs.map((p) => p.account),
      pairs.map((p) => p.user),
    );
    for (const row of rows) {
      const key = `${row.account}|${row.userId}`;
      byUser.set(key, [...(byUser.get(key) ?? []), row]);
    }
    return byUser;
  }

  /**
   * deferred → queued (committed first, then published: a crash in between leaves it to the relay).
   * A user who opted out while the message waited (quiet hours, a scheduled send) does not get it.
   */
  async function releaseDeferred(): Promise<number> {
    const rows = await prisma.$queryRawUnsafe<
      { id: string; account: string; user_id: string; channel: string; category: string; priority: string }[]
    >(
      `UPDATE notifications SET status = 'queued', dispatched_at = NULL, updated_at = now()
        WHERE id IN (SELECT id FROM notifications
                      WHERE status = 'deferred' AND scheduled_for <= now() AND queue_prefix = $1
                      ORDER BY scheduled_for LIMIT ${LIMIT} FOR UPDATE SKIP LOCKED)
       RETURNING id, source_account_id AS account, user_id, channel, category, priority`,
      options.queuePrefix,
    );
    if (!rows.length) return 0;
    const prefs = await preferencesOf([...new Map(rows.map((r) => [`${r.account}|${r.user_id}`, { account: r.account, user: r.user_id }])).values()]);
    const skipped = rows.filter((r) =>
      optedOut(resolvePreference(prefs.get(`${r.account}|${r.user_id}`) ?? [], r.channel as Channel, r.category), r.priority as Priority),
    );
    if (skipped.length) {
      await prisma.$executeRawUnsafe(
        `UPDATE notifications SET status = 'skipped', last_error = 'the user opted out before it was sent', updated_at = now()
          WHERE id = ANY($1::uuid[]) AND status = 'queued' AND dispatched_at IS NULL`,
        skipped.map((r) => r.id),
      );
    }
    const skip = new Set(skipped.map((r) => r.id));
    const ids = rows.filter((r) => !skip.has(r.id)).map((r) => r.id);
    if (!ids.length) return rows.length;
    await publishChunks(ids, 'scheduled');
    await markDispatched(ids);
    return rows.length;
  }

  /** The outbox relay: queued rows nobody published (API crash or broker outage at send time). */
  async function relay(): Promise<number> {
    return prisma.$transaction(
      async (tx) => {
        const rows = await tx.$queryRawUnsafe<{ id: string }[]>(
          `SELECT id FROM notifications
            WHERE status = 'queued' AND dispatched_at IS NULL
              AND updated_at < now() - ($1::int * interval '1 millisecond')
              AND (scheduled_for IS NULL OR scheduled_for <= now()) AND queue_prefix = $2
            ORDER BY created_at LIMIT ${LIMIT} FOR UPDATE SKIP LOCKED`,
          options.relayGraceMs,
          options.queuePrefix,
        );
        const ids = rows.map((r) => r.id);
        if (!ids.length) return 0;
        await publishChunks(ids, 'relay');
        await tx.$executeRawUnsafe(`UPDATE notifications SET dispatched_at = now() WHERE id = ANY($1::uuid[])`, ids);
        logger.info({ count: ids.length }, 'relayed unpublished notifications');
        return ids.length;
      },
      { timeout: 60_000 },
    );
  }

  /** Claims that expired long ago without any message left to find them (defensive). */
  async function expiredClaims(): Promise<number> {
    const rows = await prisma.$queryRawUnsafe<{ id: string }[]>(
      `UPDATE notifications SET claimed_until = now()
        WHERE id IN (SELECT id FROM notifications WHERE status = 'sending' AND queue_prefix = $2
                        AND claimed_until < now() - ($1::int * interval '1 millisecond')
                      LIMIT ${LIMIT} FOR UPDATE SKIP LOCKED)
       RETURNING id`,
      Math.max(30_000, options.leaseMs),
      options.queuePrefix,
    );
    const ids = rows.map((r) => r.id);
    for (let i = 0; i < ids.length; i += options.chunk) await queue.publishExpiredClaims(ids.slice(i, i + options.chunk));
    return ids.length;
  }

  async function digestTemplate(
    tx: Prisma.TransactionClient,
    sourceAccountId: string,
    channel: Channel,
  ): Promise<{ source: TemplateSource; version: number | null }> {
    const own = await tx.notificationTemplate.findUnique({
      where: { sourceAccountId_name: { sourceAccountId, name: options.digestTemplate } },
    });
    if (own?.isActive && own.channels.includes(channel)) return { source: toSource(own), version: own.version };
    return { source: { id: 'builtin-digest', ...DEFAULT_DIGEST_TEMPLATE }, version: null };
  }

  /** Closes one due digest: renders it from the digest template and creates the row that carries it. */
  async function closeBatch(batchId: string): Promise<string | null> {
    return prisma.$transaction(
      async (tx) => {
        const batch = await tx.notificationBatch.findUnique({ where: { id: batchId } });
        if (!batch || batch.status !== 'open') return null;
        // Same lock as the API takes when it adds to this digest: nothing slips in while it closes.
        await tx.$queryRawUnsafe(
          `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text`,
          `${batch.queuePrefix}|${batch.sourceAccountId}|${batch.userId}|${batch.channel}|${batch.category}`,
        );
        const locked = await tx.$queryRawUnsafe<{ id: string }[]>(
          `SELECT id FROM notification_batches WHERE id = $1::uuid AND status = 'open' FOR UPDATE`,
          batchId,
        );
        if (!locked.length) return null;
        const items = await tx.notification.findMany({
          where: { batchId, status: 'batched', kind: 'single' },
          orderBy: { createdAt: 'asc' },
        });
        if (!items.length) {
          await tx.notificationBatch.update({ where: { id: batchId }, data: { status: 'sent', itemCount: 0, sentAt: new Date() } });
          return null;
        }
        const channel = batch.channel as Channel;
        const prefs = await tx.notificationPreference.findMany({
          where: { sourceAccountId: batch.sourceAccountId, userId: batch.userId, channel },
        });
        const pref = resolvePreference(prefs, channel, batch.category);
        if (optedOut(pref, 'normal')) {
          // The user opted out while the digest was collecting: nothing is sent.
          await tx.notification.updateMany({
            where: { batchId, status: 'batched', kind: 'single' },
            data: { status: 'skipped', lastError: 'the user opted out before the digest was sent' },
          });
          await tx.notificationBatch.update({ where: { id: batchId }, data: { status: 'skipped', itemCount: items.length } });
          return null;
        }
        const { source, version } = await digestTemplate(tx, batch.sourceAccountId, channel);
        const data = {
          count: items.length,
          category: batch.category,
          channel,
          userId: batch.userId,
          items: items.map((item) => {
            const c = (item.content ?? {}) as RenderedContent;
            return {
              id: item.id,
              template: item.templateName,
              subject: c.subject ?? null,
              text: c.text ?? null,
              html: c.html ?? null,
              title: c.title ?? null,
              body: c.body ?? null,
              sms: c.sms ?? null,
              createdAt: item.createdAt.toISOString(),
            };
          }),
        };
        let content: RenderedContent;
        try {
          content = renderForChannel(source, channel, prepareData(source, data));
        } catch (error) {
          logger.error({ err: error, batchId }, 'the digest template does not render; using the built-in one');
          const builtin = { id: 'builtin-digest', ...DEFAULT_DIGEST_TEMPLATE };
          content = renderForChannel(builtin, channel, prepareData(builtin, data));
        }
        const quietEnd = pref.quietHours ? quietHoursEnd(new Date(), pref.quietHours) : null;
        const recipient = items.at(-1)!.recipient;
        const id = uuidv7();
        await tx.notification.create({
          data: {
            id,
            sourceAccountId: batch.sourceAccountId,
            userId: batch.userId,
            templateName: source.name,
            templateVersion: version,
            channel,
            category: batch.category,
            priority: 'normal',
            status: quietEnd ? 'deferred' : 'queued',
            scheduledFor: quietEnd,
            recipient,
            subject: content.subject ?? content.title ?? null,
            data: { batchId, count: items.length } as Prisma.InputJsonValue,
            content: content as Prisma.InputJsonValue,
            kind: 'digest',
            batchId,
            queuePrefix: batch.queuePrefix,
            maxAttempts: options.maxAttempts,
          },
        });
        await tx.notificationBatch.update({ where: { id: batchId }, data: { status: 'sending', itemCount: items.length } });
        return quietEnd ? null : id;
      },
      { timeout: 60_000 },
    );
  }

  async function closeDueBatches(): Promise<number> {
    const due = await prisma.notificationBatch.findMany({
      where: { status: 'open', sendAfter: { lte: new Date() }, queuePrefix: options.queuePrefix },
      select: { id: true },
      orderBy: { sendAfter: 'asc' },
      take: 200,
    });
    const ready: string[] = [];
    for (const { id } of due) {
      const digestId = await closeBatch(id);
      if (digestId) ready.push(digestId);
    }
    if (ready.length) {
      await publishChunks(ready, 'scheduled');
      await markDispatched(ready);
    }
    return due.length;
  }

  async function cleanup(): Promise<void> {
    if (Date.now() - lastCleanup < 60_000) return;
    lastCleanup = Date.now();
    await prisma.notificationIdempotencyKey.deleteMany({ where: { expiresAt: { lt: new Date() } } });
  }

  async function tick(): Promise<void> {
    for (const [name, step] of [
      ['release deferred', releaseDeferred],
      ['close digests', closeDueBatches],
      ['relay', relay],
      ['expired claims', expiredClaims],
      ['cleanup', cleanup],
    ] as const) {
      try {
        await step();
      } catch (error) {
        logger.warn({ err: error, step: name }, 'dispatcher step failed; retrying on the next tick');
      }
    }
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule();
      });
    }, options.intervalMs);
  }

  return {
    tick,
    start() {
      stopped = false;
      schedule();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
