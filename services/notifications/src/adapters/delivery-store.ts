import type { RenderedContent } from '../domain/types.js';
import type { Sql } from './sql.js';

/** A notification row as the worker claims it. */
/**
 * Marks published rows dispatched ($1: their ids), so the outbox relay leaves them alone. Rows another
 * transaction holds are skipped, not waited for: a worker is already claiming or recording them (a retry
 * marks itself once its delay message is out). Waiting for them, in another order than the worker
 * locks them, deadlocked under load and failed an accepted bulk request.
 */
export const MARK_DISPATCHED_SQL = `UPDATE notifications SET dispatched_at = now()
  WHERE id IN (SELECT id FROM notifications WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL FOR UPDATE SKIP LOCKED)`;

export interface ClaimedRow {
  id: string;
  sourceAccountId: string;
  userId: string;
  channel: string;
  category: string;
  priority: string;
  recipient: string | null;
  content: RenderedContent | null;
  attempts: number;
  maxAttempts: number;
  kind: string;
  batchId: string | null;
  templateName: string;
  createdAt: Date;
  lastError: string | null;
  /** The status before this claim: 'sending' means a previous worker died mid-delivery (in doubt). */
  prevStatus: string;
}

export interface UnclaimedRow {
  id: string;
  status: string;
  claimedUntil: Date | null;
}

export interface SentRecord {
  id: string;
  token: string;
  provider: string;
  messageId: string | null;
}

export interface FailureRecord {
  id: string;
  token: string;
  provider: string | null;
  error: string;
  /** 'failed' (will retry), 'rejected' (permanent for this provider, will fail over) or 'dead_lettered'. */
  attemptStatus: 'failed' | 'rejected' | 'dead_lettered';
}

interface RawClaimed {
  id: string;
  source_account_id: string;
  user_id: string;
  channel: string;
  category: string;
  priority: string;
  recipient: string | null;
  content: RenderedContent | null;
  attempts: number;
  max_attempts: number;
  kind: string;
  batch_id: string | null;
  template_name: string;
  created_at: Date;
  last_error: string | null;
  prev_status: string;
}

/**
 * The worker's SQL on `notifications` / `notification_queue`: claims, results and attempt history.
 * A row is owned by the worker whose claim_token it carries until claimed_until; every result write
 * checks the token, so a worker that lost its claim (lease ran out) cannot overwrite a newer attempt.
 */
export class DeliveryStore {
  constructor(private readonly sql: Sql) {}

  /**
   * Claims the deliverable rows among ids in one statement: queued rows (with the attempt count the
   * message expects, so a stale message cannot trigger an early retry) and rows whose previous claim
   * expired (a worker died while sending them).
   */
  async claim(ids: string[], token: string, leaseMs: number, expectedAttempts: number | null): Promise<ClaimedRow[]> {
    const rows = await this.sql.query<RawClaimed>(
      `WITH target AS (SELECT id, status AS prev_status FROM notifications WHERE id = ANY($1::uuid[]))
       UPDATE notifications n
          SET status = 'sending', attempts = n.attempts + 1, claim_token = $2::uuid,
              claimed_until = now() + ($3::int * interval '1 millisecond'), updated_at = now()
         FROM target t
        WHERE n.id = t.id
          AND ((n.status = 'queued' AND ($4::int IS NULL OR n.attempts = $4::int))
               OR (n.status = 'sending' AND n.claimed_until < now()))
       RETURNING n.id, n.source_account_id, n.user_id, n.channel, n.category, n.priority, n.recipient, n.content,
                 n.attempts, n.max_attempts, n.kind, n.batch_id, n.template_name, n.created_at, n.last_error,
                 t.prev_status`,
      [ids, token, leaseMs, expectedAttempts],
    );
    return rows.map((r) => ({
      id: r.id,
      sourceAccountId: r.source_account_id,
      userId: r.user_id,
      channel: r.channel,
      category: r.category,
      priority: r.priority,
      recipient: r.recipient,
      content: r.content,
      attempts: r.attempts,
      maxAttempts: r.max_attempts,
      kind: r.kind,
      batchId: r.batch_id,
      templateName: r.template_name,
      createdAt: r.created_at,
      lastError: r.last_error,
      prevStatus: r.prev_status,
    }));
  }

  async inspect(ids: string[]): Promise<UnclaimedRow[]> {
    const rows = await this.sql.query<{ id: string; status: string; claimed_until: Date | null }>(
      `SELECT id, status, claimed_until FROM notifications WHERE id = ANY($1::uuid[])`,
      [ids],
    );
    return rows.map((r) => ({ id: r.id, status: r.status, claimedUntil: r.claimed_until }));
  }

  /** Logs the attempt a dead worker left unfinished: it may or may not have reached the provider. */
  async recordInDoubt(rows: ClaimedRow[]): Promise<void> {
    if (!rows.length) return;
    await this.sql.execute(
      `INSERT INTO notification_queue (id, source_account_id, notification_id, attempt, status, error, created_at)
       SELECT gen_random_uuid(), t.account, t.id, t.attempt, 'in_doubt',
              'the worker stopped during this attempt; the outcome is unknown, so it is delivered again', now()
         FROM unnest($1::uuid[], $2::text[], $3::int[]) AS t(id, account, attempt)`,
      [rows.map((r) => r.id), rows.map((r) => r.sourceAccountId), rows.map((r) => r.attempts - 1)],
    );
  }

  /** Failed attempts per provider so far (for failover): provider → {failures, rejected}. */
  async providerHistory(id: string): Promise<Map<string, { failures: number; rejected: boolean }>> {
    const rows = await this.sql.query<{ provider: string | null; status: string }>(
      `SELECT provider, status FROM notification_queue
        WHERE notification_id = $1::uuid AND status IN ('failed', 'rejected')`,
      [id],
    );
    const history = new Map<string, { failures: number; rejected: boolean }>();
    for (const row of rows) {
      if (!row.provider) continue;
      const entry = history.get(row.provider) ?? { failures: 0, rejected: false };
      entry.failures += 1;
      entry.rejected ||= row.status === 'rejected';
      history.set(row.provider, entry);
    }
    return history;
  }

  /** Records successful sends (many at once): status sent, provider and its message id, an attempt row. */
  async recordSent(records: SentRecord[]): Promise<Set<string>> {
    if (!records.length) return new Set();
    const rows = await this.sql.query<{ notification_id: string }>(
      `WITH input AS (
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS t(id, token, provider, message_id)
       ), updated AS (
         UPDATE notifications n
            SET status = 'sent', provider = i.provider, provider_message_id = i.message_id, sent_at = now(),
                last_error = NULL, claim_token = NULL, claimed_until = NULL, updated_at = now()
           FROM input i
          WHERE n.id = i.id AND n.claim_token = i.token
         RETURNING n.id, n.source_account_id, n.attempts, i.provider
       )
       INSERT INTO notification_queue (id, source_account_id, notification_id, attempt, status, provider, created_at)
       SELECT gen_random_uuid(), u.source_account_id, u.id, u.attempts, 'sent', u.provider, now() FROM updated u
       RETURNING notification_id`,
      [records.map((r) => r.id), records.map((r) => r.token), records.map((r) => r.provider), records.map((r) => r.messageId)],
    );
    return new Set(rows.map((r) => r.notification_id));
  }

  /**
   * A failed attempt that will be retried after delayMs: the row is queued again, not yet dispatched
   * (the retry message is published next; if this process dies first, the outbox relay publishes it).
   */
  async recordRetry(record: FailureRecord, delayMs: number): Promise<boolean> {
    const count = await this.sql.execute(
      `WITH updated AS (
         UPDATE notifications
            SET status = 'queued', last_error = $3, provider = $4, claim_token = NULL, claimed_until = NULL,
                scheduled_for = now() + ($5::int * interval '1 millisecond'), dispatched_at = NULL, updated_at = now()
          WHERE id = $1::uuid AND claim_token = $2::uuid
         RETURNING id, source_account_id, attempts, scheduled_for
       )
       INSERT INTO notification_queue
              (id, source_account_id, notification_id, attempt, status, provider, error, next_attempt_at, created_at)
       SELECT gen_random_uuid(), u.source_account_id, u.id, u.attempts, $6, $4, $3, u.scheduled_for, now() FROM updated u`,
      [record.id, record.token, record.error.slice(0, 2000), record.provider, Math.round(delayMs), record.attemptStatus],
    );
    return count > 0;
  }

  /** Gives a claim back unused (not an attempt): the outbox relay publishes the row again. */
  async releaseClaim(id: string, token: string): Promise<void> {
    await this.sql.execute(
      `UPDATE notifications
          SET status = 'queued', attempts = attempts - 1, claim_token = NULL, claimed_until = NULL,
              dispatched_at = NULL, updated_at = now()
        WHERE id = $1::uuid AND claim_token = $2::uuid`,
      [id, token],
    );
  }

  /** The retry message is confirmed: the relay must not publish the row again. */
  async markRetryDispatched(id: string, attempts: number): Promise<void> {
    await this.sql.execute(
      `UPDATE notifications SET dispatched_at = now()
        WHERE id = $1::uuid AND attempts = $2 AND status = 'queued' AND dispatched_at IS NULL`,
      [id, attempts],
    );
  }

  /** The last attempt failed: status failed, the error kept, the attempt logged as dead-lettered. */
  async recordFailed(record: FailureRecord): Promise<boolean> {
    const count = await this.sql.execute(
      `WITH updated AS (
         UPDATE notifications
            SET status = 'failed', last_error = $3, provider = COALESCE($4, provider), failed_at = now(),
                claim_token = NULL, claimed_until = NULL, updated_at = now()
          WHERE id = $1::uuid AND claim_token = $2::uuid
         RETURNING id, source_account_id, attempts
       )
       INSERT INTO notification_queue (id, source_account_id, notification_id, attempt, status, provider, error, created_at)
       SELECT gen_random_uuid(), u.source_account_id, u.id, u.attempts, 'dead_lettered', $4, $3, now() FROM updated u`,
      [record.id, record.token, record.error.slice(0, 2000), record.provider],
    );
    return count > 0;
  }

  /** A digest went out: its items are sent too, and the batch is closed. */
  async completeDigest(batchId: string, provider: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.execute(
        `UPDATE notifications SET status = 'sent', provider = $2, sent_at = now(), updated_at = now()
          WHERE batch_id = $1::uuid AND status = 'batched' AND kind = 'single'`,
        [batchId, provider],
      );
      await tx.execute(
        `UPDATE notification_batches SET status = 'sent', sent_at = now(), updated_at = now() WHERE id = $1::uuid`,
        [batchId],
      );
    });
  }

  async failDigest(batchId: string, error: string): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.execute(
        `UPDATE notifications SET status = 'failed', last_error = $2, failed_at = now(), updated_at = now()
          WHERE batch_id = $1::uuid AND status = 'batched' AND kind = 'single'`,
        [batchId, error.slice(0, 2000)],
      );
      await tx.execute(`UPDATE notification_batches SET status = 'failed', updated_at = now() WHERE id = $1::uuid`,
      [batchId],
    );
    });
  }
}
