import { createHmac, timingSafeEqual } from 'node:crypto';
import type { PrismaClient } from '@nself/db';
import { Errors, parseInput } from '@nself/errors';
import type { Logger } from '@nself/logging';
import { z } from 'zod';
import type { EventPublisher } from '../events.js';

export type DeliveryEventStatus = 'delivered' | 'bounced' | 'failed';

export interface DeliveryEvent {
  providerMessageId?: string;
  notificationId?: string;
  provider?: string;
  status: DeliveryEventStatus;
  reason?: string;
}

const FROM: Record<DeliveryEventStatus, string[]> = {
  delivered: ['sent'],
  bounced: ['sent', 'delivered'],
  failed: ['sent', 'delivered'],
};

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Twilio's request signature: base64 HMAC-SHA1 of the URL followed by the sorted POST parameters. */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const keys = [...new Set(params.keys())].sort();
  const data = url + keys.map((k) => params.getAll(k).map((v) => `${k}${v}`).join('')).join('');
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64');
}

export function verifyTwilio(authToken: string, urls: string[], params: URLSearchParams, signature: string | undefined): void {
  if (!signature || !urls.some((url) => safeEqual(twilioSignature(authToken, url, params), signature))) {
    throw Errors.unauthorized('The Twilio signature does not match', 'INVALID_SIGNATURE');
  }
}

/**
 * The generic delivery webhook's signature (for SMTP bounce processors, relays and providers without
 * a scheme of their own): header `x-nself-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
 */
export function signGeneric(secret: string, timestamp: number, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

export function verifyGeneric(secret: string, header: string | undefined, rawBody: Buffer, toleranceSeconds: number): void {
  const parts = Object.fromEntries(
    (header ?? '').split(',').map((p) => p.trim().split('=') as [string, string]),
  ) as Record<string, string | undefined>;
  const t = Number(parts.t);
  if (!parts.v1 || !Number.isFinite(t)) throw Errors.unauthorized('Missing or malformed x-nself-signature', 'INVALID_SIGNATURE');
  if (Math.abs(Date.now() / 1000 - t) > toleranceSeconds) {
    throw Errors.unauthorized('The webhook timestamp is outside the tolerance', 'SIGNATURE_EXPIRED');
  }
  if (!safeEqual(signGeneric(secret, t, rawBody), parts.v1)) {
    throw Errors.unauthorized('The webhook signature does not match', 'INVALID_SIGNATURE');
  }
}

const eventSchema = z
  .object({
    providerMessageId: z.string().min(1).max(500).optional(),
    notificationId: z.uuid().optional(),
    provider: z.string().max(64).optional(),
    status: z.enum(['delivered', 'bounced', 'failed']),
    reason: z.string().max(2000).optional(),
  })
  .refine((e) => e.providerMessageId || e.notificationId, { message: 'needs providerMessageId or notificationId' });

export const genericBodySchema = z.union([z.object({ events: z.array(eventSchema).min(1).max(1000) }), eventSchema]);

export function parseGenericEvents(body: unknown): DeliveryEvent[] {
  const parsed = parseInput(genericBodySchema, body);
  return 'events' in parsed ? parsed.events : [parsed];
}

/** Applies provider delivery reports: sent → delivered, sent/delivered → bounced/failed. */
export async function applyDeliveryEvents(
  prisma: PrismaClient,
  events: EventPublisher | null,
  logger: Logger,
  items: DeliveryEvent[],
): Promise<{ updated: number; ignored: number }> {
  let updated = 0;
  for (const item of items) {
    const rows = await prisma.$queryRawUnsafe<{ id: string; source_account_id: string; user_id: string; channel: string }[]>(
      `UPDATE notifications
          SET status = $3,
              delivered_at = CASE WHEN $3 = 'delivered' THEN now() ELSE delivered_at END,
              failed_at = CASE WHEN $3 <> 'delivered' THEN now() ELSE failed_at END,
              last_error = CASE WHEN $3 <> 'delivered' THEN $4 ELSE last_error END,
              updated_at = now()
        WHERE ($1::text IS NOT NULL AND provider_message_id = $1::text AND ($5::text IS NULL OR provider = $5::text)
               OR $2::uuid IS NOT NULL AND id = $2::uuid)
          AND status = ANY($6::text[])
       RETURNING id, source_account_id, user_id, channel`,
      item.providerMessageId ?? null,
      item.notificationId ?? null,
      item.status,
      item.reason ?? `reported ${item.status} by the provider`,
      item.provider ?? null,
      FROM[item.status],
    );
    updated += rows.length;
    for (const row of rows) {
      if (item.status === 'delivered') continue;
      events
        ?.publish(
          'notification.failed',
          { notificationId: row.id, channel: row.channel, error: item.reason ?? item.status },
          { sourceAccountId: row.source_account_id, userId: row.user_id },
        )
        .catch((e: unknown) => logger.warn({ err: e }, 'could not publish notification.failed'));
    }
  }
  return { updated, ignored: items.length - updated };
}

/** Maps Twilio's MessageStatus to ours (intermediate states are ignored). */
export function twilioStatus(status: string | null): DeliveryEventStatus | null {
  if (status === 'delivered') return 'delivered';
  if (status === 'undelivered') return 'bounced';
  if (status === 'failed') return 'failed';
  return null;
}
