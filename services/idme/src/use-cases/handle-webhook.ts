import { createHmac, timingSafeEqual } from 'node:crypto';
import { AppError, Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import type { IdmeDeps } from '../deps.js';
import { normalizeGroupName } from '../groups.js';
import { publishRevoked } from './read-verification.js';

export const SIGNATURE_HEADER = 'x-idme-signature';
export const TIMESTAMP_HEADER = 'x-idme-timestamp';

/** `sha256=` + hex HMAC-SHA256 over `<timestamp>.<raw body>` (the timestamp is signed too). */
export function signWebhook(secret: string, timestamp: number | string, rawBody: Buffer | string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `sha256=${mac}`;
}

const refuse = (code: string, message: string) => new AppError(code, 401, message);

/**
 * Checks a delivery: a well-formed timestamp, an HMAC-SHA256 signature over the raw body compared in
 * constant time, and a timestamp inside the replay window.
 */
export function verifyWebhookSignature(params: {
  secret: string;
  rawBody: Buffer;
  signature: string | undefined;
  timestamp: string | undefined;
  toleranceSeconds: number;
  now: Date;
}): void {
  const { timestamp, signature } = params;
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) {
    throw refuse('WEBHOOK_TIMESTAMP_INVALID', `The ${TIMESTAMP_HEADER} header must be a Unix time in seconds`);
  }
  const match = signature ? /^(?:sha256=)?([0-9a-fA-F]{64})$/.exec(signature.trim()) : null;
  if (!match) throw refuse('WEBHOOK_SIGNATURE_INVALID', `The ${SIGNATURE_HEADER} header is missing or malformed`);
  const expected = Buffer.from(signWebhook(params.secret, timestamp, params.rawBody).slice('sha256='.length), 'hex');
  const given = Buffer.from(match[1]!, 'hex');
  if (!timingSafeEqual(expected, given)) throw refuse('WEBHOOK_SIGNATURE_INVALID', 'The webhook signature does not match');
  const ageSeconds = Math.abs(params.now.getTime() / 1000 - Number(timestamp));
  if (ageSeconds > params.toleranceSeconds) {
    throw refuse('WEBHOOK_TIMESTAMP_OUT_OF_WINDOW', `The webhook timestamp is outside the ${params.toleranceSeconds} s replay window`);
  }
}

const REVOKE_TYPES = new Set(['verification.revoked', 'consent.revoked', 'user.revoked', 'account.deleted']);
const GROUP_TYPES = new Set(['group.revoked', 'group.expired', 'group.unverified']);

export const webhookEventSchema = z.object({
  id: z.string().min(1).max(200),
  type: z.string().min(1).max(100),
  data: z.looseObject({ subject: z.string().min(1).max(200).optional(), group: z.string().min(1).max(100).optional() }).default({}),
});

export interface WebhookResult {
  received: true;
  duplicate: boolean;
  handled: boolean;
  affected: number;
}

/**
 * A signed ID.me notification. Each event id is processed once (recorded in the same transaction as its
 * effect); revocations withdraw every verification the identity backs, group events one group.
 */
export async function handleWebhook(
  deps: IdmeDeps,
  request: { rawBody: Buffer; signature: string | undefined; timestamp: string | undefined },
): Promise<WebhookResult> {
  const secret = deps.config.webhookSecret;
  if (!secret) throw Errors.notFound('Webhook endpoint (IDME_WEBHOOK_SECRET is not set)', 'WEBHOOKS_DISABLED');
  const now = deps.now();
  verifyWebhookSignature({
    secret,
    rawBody: request.rawBody,
    signature: request.signature,
    timestamp: request.timestamp,
    toleranceSeconds: deps.config.webhookToleranceSeconds,
    now,
  });
  let json: unknown;
  try {
    json = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    throw Errors.badRequest('MALFORMED_JSON', 'The webhook body is not valid JSON');
  }
  const event = parseInput(webhookEventSchema, json);
  const { subject } = event.data;
  const group = event.data.group ? normalizeGroupName(event.data.group) : undefined;
  const handles = (REVOKE_TYPES.has(event.type) && subject) || (GROUP_TYPES.has(event.type) && subject && group);

  const outcome = await deps.prisma.$transaction(async (tx) => {
    const { count } = await tx.idmeWebhookEvent.createMany({
      data: [{ eventId: event.id, eventType: event.type }],
      skipDuplicates: true,
    });
    if (count === 0) return { duplicate: true, revoked: [], changed: 0 };
    if (!handles) return { duplicate: false, revoked: [], changed: 0 };
    if (REVOKE_TYPES.has(event.type)) {
      const revoked = await deps.verifications.revokeBySubject(tx, subject!, now);
      return { duplicate: false, revoked, changed: revoked.length };
    }
    const changed = await deps.verifications.withdrawGroup(tx, subject!, group!);
    return { duplicate: false, revoked: [], changed: changed.length };
  });
  for (const revoked of outcome.revoked) await publishRevoked(deps, revoked);
  deps.metrics.webhooks.inc({ result: outcome.duplicate ? 'duplicate' : handles ? event.type : 'ignored' });
  return { received: true, duplicate: outcome.duplicate, handled: Boolean(handles) && !outcome.duplicate, affected: outcome.changed };
}
