import { randomUUID } from 'node:crypto';
import type { Logger } from '@nself/logging';
import type { ClaimedRow, DeliveryStore, SentRecord } from '../adapters/delivery-store.js';
import type { NotificationQueue } from '../adapters/queue.js';
import type { Channel } from '../config.js';
import { retryDelayMs } from '../domain/backoff.js';
import type { DeliverMessage } from '../domain/types.js';
import type { EventPublisher } from '../events.js';
import type { DeliveryMetrics } from '../metrics.js';
import type { ProviderRegistry, RankedProvider } from '../providers/registry.js';
import { ProviderError } from '../providers/types.js';

export interface DeliveryOptions {
  /** How long a claim is exclusive; longer than any provider call can take. */
  leaseMs: number;
  /** The longest a provider call may take (its timeout): a send starts only if it ends within the lease. */
  sendTimeoutMs: number;
  /** Attempts on one provider (transient failures) before failing over to the next. */
  providerAttempts: number;
  retry: { baseMs: number; maxMs: number; jitter: number };
  /** Sends in flight at once in this process, across all messages. */
  concurrency: number;
  emitSentEvents: boolean;
}

export interface DeliveryDeps {
  store: DeliveryStore;
  queue: Pick<NotificationQueue, 'publishRetry' | 'publishWait' | 'publishDead'>;
  registry: ProviderRegistry;
  events: EventPublisher | null;
  metrics: DeliveryMetrics;
  logger: Logger;
  options: DeliveryOptions;
}

/** Bounds concurrent work: run() waits for a free slot; a finishing task hands its slot to the next. */
function createLimiter(max: number) {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async function run<T>(task: () => Promise<T>): Promise<T> {
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active += 1;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active -= 1;
    }
  };
}

/**
 * Group commit of successful sends: the first result is written at once; results that arrive while
 * a write is in flight go together in the next statement. The gap between a provider accepting a
 * message and Postgres recording it stays as short as one round trip under light load, and the
 * number of statements stays small under heavy load.
 */
function createSentWriter(store: DeliveryStore) {
  let pending: { record: SentRecord; resolve: (ok: boolean) => void; reject: (e: unknown) => void }[] = [];
  let flushing = false;
  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (pending.length) {
        const batch = pending;
        pending = [];
        try {
          const written = await store.recordSent(batch.map((p) => p.record));
          batch.forEach((p) => p.resolve(written.has(p.record.id)));
        } catch (error) {
          batch.forEach((p) => p.reject(error));
        }
      }
    } finally {
      flushing = false;
    }
  }
  return {
    write(record: SentRecord): Promise<boolean> {
      return new Promise((resolve, reject) => {
        pending.push({ record, resolve, reject });
        if (!flushing) void flush();
      });
    },
  };
}

const SLICE = 100;

function usable(history: Map<string, { failures: number; rejected: boolean }>, name: string, perProvider: number) {
  const h = history.get(name);
  return !h || (!h.rejected && h.failures < perProvider);
}

/**
 * The worker's handler for one queue message (a batch of notification ids). Every id is claimed in
 * Postgres before anything is sent, so a redelivered message (worker crash, broker restart, lost ack)
 * never sends a notification twice; the message is acked only after every id reached a recorded state
 * (sent, scheduled for retry with its retry message confirmed, or failed and dead-lettered).
 */
export function createDeliveryProcessor(deps: DeliveryDeps) {
  const { store, queue, registry, metrics, logger, options } = deps;
  const limit = createLimiter(options.concurrency);
  const writer = createSentWriter(store);
  let stopping = false;

  async function handleUnclaimed(ids: string[]): Promise<void> {
    const rows = await store.inspect(ids);
    const now = Date.now();
    // Held by another (or a dead) worker: look again when its lease ends.
    const held = rows.filter((r) => r.status === 'sending' && r.claimedUntil && r.claimedUntil.getTime() > now);
    if (!held.length) return;
    const delay = Math.max(...held.map((r) => r.claimedUntil!.getTime() - now)) + 250;
    await queue.publishWait(
      held.map((r) => r.id),
      delay,
    );
  }

  async function fail(row: ClaimedRow, token: string, provider: string | null, error: string): Promise<void> {
    await queue.publishDead(row.id, { error, attempts: row.attempts, provider, channel: row.channel });
    const recorded = await store.recordFailed({ id: row.id, token, provider, error, attemptStatus: 'dead_lettered' });
    if (!recorded) return;
    metrics.failed.inc({ channel: row.channel });
    if (row.kind === 'digest' && row.batchId) await store.failDigest(row.batchId, error);
    logger.warn({ notificationId: row.id, channel: row.channel, attempts: row.attempts, error }, 'notification failed');
    deps.events
      ?.publish('notification.failed', { notificationId: row.id, channel: row.channel, error }, {
        sourceAccountId: row.sourceAccountId,
        userId: row.userId,
      })
      .catch((e: unknown) => logger.warn({ err: e }, 'could not publish notification.failed'));
  }

  async function deliverOne(row: ClaimedRow, token: string, leaseEnds: number): Promise<void> {
    const channel = row.channel as Channel;
    // A row that waited for a free slot so long that its send could outlast the claim is given back
    // (another worker may take an expired claim over: sending now could send twice).
    if (Date.now() + Math.min(options.sendTimeoutMs, options.leaseMs / 2) > leaseEnds) {
      await store.releaseClaim(row.id, token);
      logger.warn({ notificationId: row.id }, 'claim too old to send safely; released for another attempt');
      return;
    }
    // Shutting down: sends already under way finish; the ones still waiting for a slot are given back.
    if (stopping) {
      await store.releaseClaim(row.id, token);
      return;
    }
    if (!row.recipient || !row.content) {
      await fail(row, token, null, 'nothing to deliver: the notification has no recipient or content');
      return;
    }
    const ranked = await registry.forDelivery(row.sourceAccountId, channel, row.recipient);
    if (!ranked.length) {
      await fail(row, token, null, `no ${channel} provider is configured for this address`);
      return;
    }
    const history = row.attempts > 1 ? await store.providerHistory(row.id) : new Map();
    const choice: RankedProvider | undefined = ranked.find((r) => usable(history, r.provider.name, options.providerAttempts));
    if (!choice) {
      await fail(row, token, null, `every provider failed; last error: ${row.lastError ?? 'unknown'}`);
      return;
    }
    const provider = choice.provider;
    const started = performance.now();
    try {
      const result = await provider.send({
        notificationId: row.id,
        sourceAccountId: row.sourceAccountId,
        userId: row.userId,
        channel,
        to: row.recipient,
        content: row.content,
        category: row.category,
        settings: choice.settings,
      });
      metrics.sendSeconds.observe({ provider: provider.name }, (performance.now() - started) / 1000);
      const recorded = await writer.write({ id: row.id, token, provider: provider.name, messageId: result.messageId });
      if (!recorded) {
        logger.warn({ notificationId: row.id }, 'sent, but the claim had been taken over before it was recorded');
        return;
      }
      metrics.sent.inc({ channel, provider: provider.name });
      metrics.endToEndSeconds.observe({ channel }, (Date.now() - row.createdAt.getTime()) / 1000);
      if (row.kind === 'digest' && row.batchId) await store.completeDigest(row.batchId, provider.name);
      if (options.emitSentEvents) {
        deps.events
          ?.publish('notification.sent', { notificationId: row.id, channel, provider: provider.name }, {
            sourceAccountId: row.sourceAccountId,
            userId: row.userId,
          })
          .catch((e: unknown) => logger.warn({ err: e }, 'could not publish notification.sent'));
      }
    } catch (caught) {
      const error =
        caught instanceof ProviderError
          ? caught
          : new ProviderError(`${provider.name}: ${(caught as Error)?.message ?? String(caught)}`, 'transient');
      metrics.attemptsFailed.inc({ channel, provider: provider.name, kind: error.kind });
      const previous = history.get(provider.name) ?? { failures: 0, rejected: false };
      history.set(provider.name, { failures: previous.failures + 1, rejected: previous.rejected || error.kind === 'permanent' });
      const providerLeft = ranked.some((r) => usable(history, r.provider.name, options.providerAttempts));
      if (row.attempts >= row.maxAttempts || !providerLeft) {
        await fail(row, token, provider.name, error.message);
        return;
      }
      const delay = retryDelayMs(row.attempts, options.retry);
      // The row is queued again before its retry message exists, so the message can never arrive
      // before the row is ready for it; a crash in between leaves the row to the outbox relay.
      const recorded = await store.recordRetry(
        {
          id: row.id,
          token,
          provider: provider.name,
          error: error.message,
          attemptStatus: error.kind === 'permanent' ? 'rejected' : 'failed',
        },
        delay,
      );
      if (!recorded) return;
      await queue.publishRetry(row.id, row.attempts, delay);
      await store.markRetryDispatched(row.id, row.attempts);
      metrics.retries.inc({ channel });
      logger.info(
        { notificationId: row.id, provider: provider.name, attempt: row.attempts, delayMs: delay, error: error.message },
        'delivery attempt failed; retry scheduled',
      );
    }
  }

  /** Claims and delivers one slice of a message's ids. */
  async function handleSlice(ids: string[], expectedAttempts: number | null): Promise<void> {
    const token = randomUUID();
    // Measured before the claim, so the local idea of when the lease ends is never later than the database's.
    const leaseEnds = Date.now() + options.leaseMs;
    const claimed = await store.claim(ids, token, options.leaseMs, expectedAttempts);
    if (claimed.length < ids.length) {
      const mine = new Set(claimed.map((r) => r.id));
      await handleUnclaimed(ids.filter((id) => !mine.has(id)));
    }
    const inDoubt = claimed.filter((r) => r.prevStatus === 'sending');
    if (inDoubt.length) {
      metrics.inDoubt.inc(inDoubt.length);
      logger.warn({ ids: inDoubt.map((r) => r.id) }, 'taking over deliveries a stopped worker left in doubt');
      await store.recordInDoubt(inDoubt);
    }
    const results = await Promise.allSettled(claimed.map((row) => limit(() => deliverOne(row, token, leaseEnds))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * A message's ids (up to 100 at a time) are claimed in one statement and sent through the
   * process-wide limiter; a row whose turn comes too late for its lease is released, not sent.
   */
  async function handle(message: DeliverMessage): Promise<void> {
    const ids = [...new Set(message.ids)];
    for (let i = 0; i < ids.length; i += SLICE) await handleSlice(ids.slice(i, i + SLICE), message.attempts);
  }

  return {
    handle,
    /** Graceful stop: from now on claimed rows that have not started sending are released. */
    stop() {
      stopping = true;
    },
  };
}

export type DeliveryProcessor = ReturnType<typeof createDeliveryProcessor>;
