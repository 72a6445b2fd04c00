import { createHash } from 'node:crypto';
import type { Principal } from '@nself/auth';
import { AppError, Errors, parseInput, type FieldError } from '@nself/errors';
import { getRequestId, type Logger } from '@nself/logging';
import { z } from 'zod';
import { MARK_DISPATCHED_SQL } from '../adapters/delivery-store.js';
import { isUniqueViolation, type Sql } from '../adapters/sql.js';
import { CHANNELS, type Channel, type NotificationsConfig } from '../config.js';
import { ADDRESS_ERROR, normalizeAddress } from '../domain/addresses.js';
import { uuidv7 } from '../domain/ids.js';
import {
  bypassesBatching,
  digestWindowSeconds,
  optedOut,
  quietHoursEnd,
  resolvePreference,
  type PreferenceRow,
} from '../domain/preferences.js';
import { prepareData, renderForChannel } from '../domain/templates.js';
import { PRIORITIES, type NotificationStatus, type Priority, type RenderedContent } from '../domain/types.js';
import type { ApiMetrics } from '../metrics.js';
import { CATEGORY, TEMPLATE_NAME, toSource, type ActiveTemplate as NotificationTemplate } from './templates.js';

export interface SendDeps {
  sql: Sql;
  publisher: { publishDeliver(ids: string[]): Promise<void> };
  config: NotificationsConfig;
  logger: Logger;
  metrics?: ApiMetrics;
}

const userIdSchema = z.string().min(1).max(255);
const addressesSchema = z
  .object({
    email: z.string().max(320).optional(),
    phone: z.string().max(32).optional(),
    push: z.string().max(8192).optional(),
  })
  .strict();
const dataSchema = z.record(z.string(), z.unknown());

const common = {
  template: z.string().regex(TEMPLATE_NAME, 'is not a template name'),
  data: dataSchema.default({}),
  channel: z.enum(CHANNELS).optional(),
  category: z.string().regex(CATEGORY, 'letters, digits, ".", "_" and "-"').optional(),
  priority: z.enum(PRIORITIES).default('normal'),
  idempotencyKey: z.string().min(1).max(255).optional(),
  /** Scheduled send: not before this instant (ISO 8601 with offset). */
  sendAt: z.iso.datetime({ offset: true }).optional(),
};

export const sendSchema = z.object({ userId: userIdSchema, to: addressesSchema.optional(), ...common }).strict();

export const bulkSchema = z
  .object({
    userIds: z.array(userIdSchema).min(1).optional(),
    recipients: z
      .array(z.object({ userId: userIdSchema, data: dataSchema.optional(), to: addressesSchema.optional() }).strict())
      .min(1)
      .optional(),
    ...common,
  })
  .strict()
  .refine((b) => Boolean(b.userIds) !== Boolean(b.recipients), {
    message: 'give either userIds or recipients',
    path: ['userIds'],
  });

export type SendInput = z.output<typeof sendSchema>;
export type BulkInput = z.output<typeof bulkSchema>;

const ADDRESS_KEY: Record<Channel, 'email' | 'phone' | 'push'> = { email: 'email', sms: 'phone', push: 'push' };

interface Recipient {
  userId: string;
  data?: Record<string, unknown>;
  to?: z.output<typeof addressesSchema>;
  /** Field path prefix for error messages (e.g. "recipients.3"). */
  path: string;
}

interface PlannedRow {
  id: string;
  userId: string;
  channel: Channel;
  status: NotificationStatus;
  recipient: string | null;
  content: RenderedContent | null;
  data: Record<string, unknown>;
  scheduledFor: Date | null;
  lastError: string | null;
  digest: { frequency: string; windowSeconds: number } | null;
  batchId: string | null;
}

export interface SentNotification {
  id: string;
  userId: string;
  channel: Channel;
  status: NotificationStatus;
  scheduledFor: string | null;
}

export interface SendResult {
  status: number;
  body: Record<string, unknown>;
  replayed: boolean;
}

function requestHash(kind: string, input: unknown): string {
  return createHash('sha256').update(kind).update(JSON.stringify(input)).digest('hex');
}

function dataSize(data: unknown): number {
  return Buffer.byteLength(JSON.stringify(data ?? {}));
}

/**
 * Decides, per recipient and channel, what happens to a notification: skipped (opted out), batched
 * into a digest, deferred (scheduled send or quiet hours) or queued now; and renders its content.
 * Everything is checked before anything is written, so a bad request leaves nothing behind.
 */
function plan(
  template: NotificationTemplate,
  recipients: Recipient[],
  input: { data: Record<string, unknown>; channel?: Channel; category: string; priority: Priority; sendAt?: string },
  preferences: Map<string, PreferenceRow[]>,
  config: NotificationsConfig,
  mode: 'single' | 'bulk',
): { rows: PlannedRow[]; unreachable: string[] } {
  const source = toSource(template);
  const channels: Channel[] = input.channel ? [input.channel] : (template.channels as Channel[]);
  if (input.channel && !template.channels.includes(input.channel)) {
    throw Errors.unprocessable('CHANNEL_NOT_SUPPORTED', `Template "${template.name}" has no ${input.channel} content`);
  }
  const now = new Date();
  const sendAt = input.sendAt ? new Date(input.sendAt) : null;
  const base = sendAt && sendAt > now ? sendAt : now;
  const bypass = bypassesBatching(input.priority, input.category, config.env.NOTIFICATIONS_BYPASS_CATEGORIES);
  const errors: FieldError[] = [];
  const rows: PlannedRow[] = [];
  const unreachable: string[] = [];
  const sharedRender = new Map<Channel, RenderedContent>();
  let sharedData: Record<string, unknown> | undefined;

  for (const recipient of recipients) {
    const prefs = preferences.get(recipient.userId) ?? [];
    // Required variables are checked for every recipient, whatever their preferences say.
    const data = recipient.data
      ? prepareData(source, { ...input.data, ...recipient.data })
      : (sharedData ??= prepareData(source, input.data));
    const before = rows.length;
    for (const channel of channels) {
      const pref = resolvePreference(prefs, channel, input.category);
      const given = recipient.to?.[ADDRESS_KEY[channel]];
      let address: string | null = null;
      if (given !== undefined) {
        address = normalizeAddress(channel, given);
        if (!address) {
          errors.push({ field: `${recipient.path}to.${ADDRESS_KEY[channel]}`, ...ADDRESS_ERROR[channel] });
          continue;
        }
      } else {
        address = pref.address;
      }
      const row: PlannedRow = {
        id: uuidv7(),
        userId: recipient.userId,
        channel,
        status: 'queued',
        recipient: address,
        content: null,
        data: recipient.data ? { ...input.data, ...recipient.data } : input.data,
        scheduledFor: null,
        lastError: null,
        digest: null,
        batchId: null,
      };
      if (!address) {
        // Only an explicitly requested channel is worth a record; otherwise the channel is not used.
        if (input.channel && mode === 'bulk') {
          rows.push({ ...row, status: 'skipped', lastError: `no ${channel} address for this user` });
        }
        continue;
      }
      if (optedOut(pref, input.priority)) {
        rows.push({ ...row, status: 'skipped', lastError: `the user opted out of ${input.category} on ${channel}` });
        continue;
      }
      let content = recipient.data ? undefined : sharedRender.get(channel);
      if (!content) {
        content = renderForChannel(source, channel, data);
        if (!recipient.data) sharedRender.set(channel, content);
      }
      row.content = content;
      const window = bypass ? null : digestWindowSeconds(pref.digestFrequency, config.env.NOTIFICATIONS_BATCH_INTERVAL);
      if (window) {
        row.status = 'batched';
        row.digest = { frequency: pref.digestFrequency, windowSeconds: window };
      } else {
        const quietEnd = !bypass && pref.quietHours ? quietHoursEnd(base, pref.quietHours) : null;
        const at = quietEnd ?? (sendAt && sendAt > now ? sendAt : null);
        if (at) {
          row.status = 'deferred';
          row.scheduledFor = at;
        }
      }
      rows.push(row);
    }
    if (rows.length === before) unreachable.push(recipient.userId);
  }
  if (errors.length) throw new AppError(errors[0]!.code, 400, 'An address is invalid', { errors });
  if (mode === 'single' && !rows.length) {
    const which = input.channel ?? channels.join('/');
    throw Errors.unprocessable('NO_RECIPIENT_ADDRESS', `The user has no ${which} address; set it in their preferences or pass "to"`);
  }
  return { rows, unreachable };
}

const PREFERENCE_COLUMNS = `user_id AS "userId", channel, category, enabled, address, quiet_hours_start AS "quietHoursStart",
       quiet_hours_end AS "quietHoursEnd", timezone, digest_frequency AS "digestFrequency"`;
const PREFERENCE_CHUNK = 5000;

function groupPreferences(rows: PreferenceRow[], into = new Map<string, PreferenceRow[]>()): Map<string, PreferenceRow[]> {
  for (const row of rows) {
    const list = into.get(row.userId) ?? [];
    list.push(row);
    into.set(row.userId, list);
  }
  return into;
}

/**
 * The active template and the recipients' preferences in one round trip (the first 5,000 users;
 * larger bulks read the rest in chunks). 404 TEMPLATE_NOT_FOUND when there is no active template.
 */
async function loadTemplateAndPreferences(
  sql: Sql,
  sourceAccountId: string,
  name: string,
  userIds: string[],
): Promise<{ template: NotificationTemplate; preferences: Map<string, PreferenceRow[]> }> {
  const [row] = await sql.query<{ template: NotificationTemplate | null; prefs: PreferenceRow[] }>(
    `SELECT (SELECT row_to_json(t) FROM (
               SELECT id, name, version, category, channels, variables, subject, body_text AS "bodyText",
                      body_html AS "bodyHtml", push_title AS "pushTitle", push_body AS "pushBody", sms_body AS "smsBody"
                 FROM notification_templates WHERE source_account_id = $1 AND name = $2 AND is_active) t) AS template,
            (SELECT coalesce(json_agg(p), '[]'::json) FROM (
               SELECT ${PREFERENCE_COLUMNS} FROM notification_preferences
                WHERE source_account_id = $1 AND user_id = ANY($3::text[])) p) AS prefs`,
    [sourceAccountId, name, userIds.slice(0, PREFERENCE_CHUNK)],
  );
  if (!row?.template) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
  const preferences = groupPreferences(row.prefs);
  for (let i = PREFERENCE_CHUNK; i < userIds.length; i += PREFERENCE_CHUNK) {
    const rows = await sql.query<PreferenceRow>(
      `SELECT ${PREFERENCE_COLUMNS} FROM notification_preferences WHERE source_account_id = $1 AND user_id = ANY($2::text[])`,
      [sourceAccountId, userIds.slice(i, i + PREFERENCE_CHUNK)],
    );
    groupPreferences(rows, preferences);
  }
  return { template: row.template, preferences };
}

type Tx = Sql;

/**
 * Claims the idempotency key inside the request's transaction. Returns the stored response when the
 * key was used within its lifetime (a concurrent duplicate waits on the row lock, then sees it).
 */
async function claimIdempotencyKey(
  tx: Tx,
  sourceAccountId: string,
  key: string,
  hash: string,
  ttlHours: number,
): Promise<{ replay: SendResult | null }> {
  const claimed = await tx.query<{ key: string }>(
    `INSERT INTO notification_idempotency_keys (source_account_id, key, request_hash, created_at, expires_at)
     VALUES ($1, $2, $3, now(), now() + ($4::int * interval '1 hour'))
     ON CONFLICT (source_account_id, key) DO UPDATE
        SET request_hash = EXCLUDED.request_hash, status_code = NULL, response = NULL,
            created_at = now(), expires_at = EXCLUDED.expires_at
      WHERE notification_idempotency_keys.expires_at <= now()
     RETURNING key`,
    [sourceAccountId, key, hash, ttlHours],
  );
  if (claimed.length) {
    // A key whose lifetime ended may be used again: release it from the old notification rows.
    await tx.execute(`UPDATE notifications SET idempotency_key = NULL WHERE source_account_id = $1 AND idempotency_key = $2`, [
      sourceAccountId,
      key,
    ]);
    return { replay: null };
  }
  const [existing] = await tx.query<{ request_hash: string; status_code: number | null; response: Record<string, unknown> | null }>(
    `SELECT request_hash, status_code, response FROM notification_idempotency_keys WHERE source_account_id = $1 AND key = $2`,
    [sourceAccountId, key],
  );
  if (!existing?.response) {
    throw Errors.conflict('IDEMPOTENCY_KEY_IN_USE', 'A request with this idempotency key is still being processed');
  }
  if (existing.request_hash !== hash) {
    throw Errors.unprocessable(
      'IDEMPOTENCY_KEY_REUSED',
      'This idempotency key was used for a different request within the last 24 hours',
    );
  }
  return { replay: { status: existing.status_code ?? 202, body: existing.response, replayed: true } };
}

/** Puts batched rows into the open digest of their user × channel × category (creating it). */
async function assignDigests(
  tx: Tx,
  sourceAccountId: string,
  category: string,
  rows: PlannedRow[],
  queuePrefix: string,
): Promise<void> {
  const groups = new Map<string, PlannedRow[]>();
  for (const row of rows.filter((r) => r.status === 'batched')) {
    const key = `${queuePrefix}|${sourceAccountId}|${row.userId}|${row.channel}|${category}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  // Locks in a fixed order, so two bulk requests touching the same users cannot deadlock.
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key)!;
    const first = group[0]!;
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))::text`, [key]);
    const [open] = await tx.query<{ id: string }>(
      `SELECT id FROM notification_batches
        WHERE source_account_id = $1 AND user_id = $2 AND channel = $3 AND category = $4 AND status = 'open'
          AND queue_prefix = $5
        LIMIT 1`,
      [sourceAccountId, first.userId, first.channel, category, queuePrefix],
    );
    let batchId = open?.id;
    if (batchId) {
      await tx.execute(`UPDATE notification_batches SET item_count = item_count + $2, updated_at = now() WHERE id = $1`, [
        batchId,
        group.length,
      ]);
    } else {
      batchId = uuidv7();
      await tx.execute(
        `INSERT INTO notification_batches
                (id, source_account_id, user_id, channel, category, queue_prefix, frequency, status, item_count,
                 send_after, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, now() + ($9::int * interval '1 second'), now(), now())`,
        [batchId, sourceAccountId, first.userId, first.channel, category, queuePrefix, first.digest!.frequency, group.length, first.digest!.windowSeconds],
      );
    }
    for (const row of group) row.batchId = batchId;
  }
}

interface RowContext {
  sourceAccountId: string;
  template: NotificationTemplate;
  category: string;
  priority: Priority;
  maxAttempts: number;
  idempotencyKey: string | null;
  queuePrefix: string;
}

/** One INSERT for many rows (arrays unnested by Postgres), so a bulk of thousands is one statement. */
async function insertRows(tx: Sql, rows: PlannedRow[], ctx: RowContext): Promise<void> {
  const json = new Map<unknown, string>();
  const asJson = (value: unknown): string => {
    let text = json.get(value);
    if (text === undefined) {
      text = JSON.stringify(value);
      json.set(value, text);
    }
    return text;
  };
  await tx.execute(
    `INSERT INTO notifications
            (id, source_account_id, user_id, template_name, template_version, channel, category, priority, status,
             recipient, subject, data, content, max_attempts, last_error, idempotency_key, batch_id, request_id,
             scheduled_for, queue_prefix, created_at, updated_at)
     SELECT t.id, $1, t.user_id, $2, $3, t.channel, $4, $5, t.status, t.recipient, t.subject, t.data::jsonb,
            t.content::jsonb, $6, t.last_error, $7, t.batch_id, $8, t.scheduled_for, $20, now(), now()
       FROM unnest($9::uuid[], $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[],
                   $16::text[], $17::text[], $18::uuid[], $19::timestamptz[])
            AS t(id, user_id, channel, status, recipient, subject, data, content, last_error, batch_id, scheduled_for)`,
    [
      ctx.sourceAccountId,
      ctx.template.name,
      ctx.template.version,
      ctx.category,
      ctx.priority,
      ctx.maxAttempts,
      ctx.idempotencyKey,
      getRequestId() ?? null,
      rows.map((r) => r.id),
      rows.map((r) => r.userId),
      rows.map((r) => r.channel),
      rows.map((r) => r.status),
      rows.map((r) => r.recipient),
      rows.map((r) => r.content?.subject ?? r.content?.title ?? null),
      rows.map((r) => asJson(r.data)),
      rows.map((r) => (r.content ? asJson(r.content) : null)),
      rows.map((r) => r.lastError),
      rows.map((r) => r.batchId),
      rows.map((r) => r.scheduledFor?.toISOString() ?? null),
      ctx.queuePrefix,
    ],
  );
}

/** After commit: publish the queued rows (one message per chunk, confirmed), then mark them dispatched. */
async function dispatch(deps: SendDeps, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const chunk = deps.config.env.NOTIFICATIONS_BULK_CHUNK;
  const slices: string[][] = [];
  for (let i = 0; i < ids.length; i += chunk) slices.push(ids.slice(i, i + chunk));
  const published = await Promise.allSettled(slices.map((slice) => deps.publisher.publishDeliver(slice)));
  const done = slices.filter((_, i) => published[i]!.status === 'fulfilled').flat();
  const failed = published.find((p): p is PromiseRejectedResult => p.status === 'rejected');
  if (failed) {
    // The rows are committed: the worker's outbox relay publishes the rest once RabbitMQ answers.
    deps.logger.warn({ err: failed.reason, count: ids.length - done.length }, 'could not publish now; the relay will');
  }
  if (done.length) {
    // Bookkeeping for the relay only: the request has succeeded (rows committed, messages confirmed).
    // Should it fail, the relay publishes those rows again and the worker finds them claimed or sent.
    await deps.sql.execute(MARK_DISPATCHED_SQL, [done]).catch((error: unknown) => {
      deps.logger.warn({ err: error, count: done.length }, 'could not mark published notifications dispatched');
    });
  }
}

async function execute(
  deps: SendDeps,
  principal: Principal,
  kind: 'send' | 'bulk',
  templateName: string,
  recipients: Recipient[],
  input: SendInput | BulkInput,
  idempotencyKey: string | undefined,
  hashInput: unknown,
): Promise<SendResult> {
  const { sql, config } = deps;
  const account = principal.sourceAccountId;
  const userIds = [...new Set(recipients.map((r) => r.userId))];
  const { template, preferences } = await loadTemplateAndPreferences(sql, account, templateName, userIds);
  const category = input.category ?? template.category;
  const { rows, unreachable } = plan(template, recipients, { ...input, category }, preferences, config, kind === 'send' ? 'single' : 'bulk');

  const ctx: RowContext = {
    sourceAccountId: account,
    template,
    category,
    priority: input.priority,
    maxAttempts: config.env.NOTIFICATIONS_MAX_ATTEMPTS,
    // Single sends keep the key on their rows (unique per account and channel) as a second guard.
    idempotencyKey: kind === 'send' ? (idempotencyKey ?? null) : null,
    queuePrefix: config.env.NOTIFICATIONS_QUEUE_PREFIX,
  };
  const notifications: SentNotification[] = rows.map((r) => ({
    id: r.id,
    userId: r.userId,
    channel: r.channel,
    status: r.status,
    scheduledFor: r.scheduledFor?.toISOString() ?? null,
  }));
  const counts = { queued: 0, deferred: 0, batched: 0, skipped: 0 } as Record<string, number>;
  for (const r of rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
  const body: Record<string, unknown> =
    kind === 'send'
      ? { id: rows[0]!.id, status: rows[0]!.status, notifications }
      : { requested: recipients.length, created: rows.length, ...counts, unreachable, notifications };

  const needsTransaction = Boolean(idempotencyKey) || rows.some((r) => r.status === 'batched') || rows.length > 5000;
  const write = async (tx: Tx): Promise<SendResult> => {
    if (idempotencyKey) {
      const { replay } = await claimIdempotencyKey(
        tx,
        account,
        idempotencyKey,
        requestHash(kind, hashInput),
        config.env.NOTIFICATIONS_IDEMPOTENCY_TTL_HOURS,
      );
      if (replay) return replay;
    }
    await assignDigests(tx, account, category, rows, ctx.queuePrefix);
    for (let i = 0; i < rows.length; i += 5000) await insertRows(tx, rows.slice(i, i + 5000), ctx);
    if (idempotencyKey) {
      await tx.execute(
        `UPDATE notification_idempotency_keys SET status_code = 202, response = $3::jsonb WHERE source_account_id = $1 AND key = $2`,
        [account, idempotencyKey, JSON.stringify(body)],
      );
    }
    return { status: 202, body, replayed: false };
  };
  let result: SendResult;
  try {
    result = needsTransaction ? await sql.transaction((tx) => write(tx)) : await write(sql);
  } catch (error) {
    // A concurrent request with the same key won the race on the notification rows' unique key.
    if (isUniqueViolation(error) && idempotencyKey) {
      throw Errors.conflict('IDEMPOTENCY_KEY_IN_USE', 'A request with this idempotency key is still being processed');
    }
    throw error;
  }
  if (result.replayed) {
    deps.metrics?.replayed.inc();
    return result;
  }
  for (const r of rows) deps.metrics?.accepted.inc({ channel: r.channel, status: r.status });
  await dispatch(
    deps,
    rows.filter((r) => r.status === 'queued').map((r) => r.id),
  );
  return result;
}

function checkDataSize(config: NotificationsConfig, data: unknown, field: string): void {
  const limit = config.env.NOTIFICATIONS_MAX_DATA_BYTES;
  if (dataSize(data) > limit) {
    throw new AppError('DATA_TOO_LARGE', 413, `"${field}" is larger than ${limit} bytes`, {
      errors: [{ field, code: 'DATA_TOO_LARGE', message: `at most ${limit} bytes of JSON` }],
    });
  }
}

/** POST /v1/notifications: one user, one template, one or every channel of the template. */
export async function sendNotification(
  deps: SendDeps,
  principal: Principal,
  raw: unknown,
  headerKey?: string,
): Promise<SendResult> {
  const input = parseInput(sendSchema, raw);
  if (!principal.isAdmin) {
    if (principal.userId !== input.userId) {
      throw Errors.forbidden('Only admins and services may notify other users', 'FORBIDDEN');
    }
    if (input.to) throw Errors.forbidden('Only admins and services may give explicit addresses', 'FORBIDDEN');
  }
  checkDataSize(deps.config, input.data, 'data');
  const idempotencyKey = input.idempotencyKey ?? headerKey;
  const { idempotencyKey: _ignored, ...hashInput } = input;
  return execute(
    deps,
    principal,
    'send',
    input.template,
    [{ userId: input.userId, to: input.to, path: '' }],
    input,
    idempotencyKey,
    hashInput,
  );
}

/** POST /v1/notifications/bulk: many users, fanned out in batches (admins and services only). */
export async function sendBulk(deps: SendDeps, principal: Principal, raw: unknown, headerKey?: string): Promise<SendResult> {
  if (!principal.isAdmin) throw Errors.forbidden('Bulk sends need the admin role or the admin secret', 'ADMIN_REQUIRED');
  const input = parseInput(bulkSchema, raw);
  const max = deps.config.env.NOTIFICATIONS_BULK_MAX;
  const count = input.userIds?.length ?? input.recipients!.length;
  if (count > max) {
    throw new AppError('TOO_MANY_RECIPIENTS', 413, `At most ${max} recipients per bulk request`, {
      errors: [{ field: input.userIds ? 'userIds' : 'recipients', code: 'TOO_MANY_RECIPIENTS', message: `max ${max}` }],
    });
  }
  checkDataSize(deps.config, input.data, 'data');
  input.recipients?.forEach((r, i) => r.data && checkDataSize(deps.config, r.data, `recipients.${i}.data`));
  const seen = new Set<string>();
  const recipients: Recipient[] = [];
  if (input.userIds) {
    for (const userId of input.userIds) {
      if (seen.has(userId)) continue;
      seen.add(userId);
      recipients.push({ userId, path: '' });
    }
  } else {
    input.recipients!.forEach((r, i) => {
      if (seen.has(r.userId)) return;
      seen.add(r.userId);
      recipients.push({ userId: r.userId, data: r.data, to: r.to, path: `recipients.${i}.` });
    });
  }
  const idempotencyKey = input.idempotencyKey ?? headerKey;
  const { idempotencyKey: _ignored, ...hashInput } = input;
  return execute(deps, principal, 'bulk', input.template, recipients, input, idempotencyKey, hashInput);
}
