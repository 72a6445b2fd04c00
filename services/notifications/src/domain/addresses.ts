import { z } from 'zod';
import type { Channel } from '../config.js';

// Practical address checks: what the providers will accept, not every corner of RFC 5322.
const EMAIL = z.email();
/** E.164: "+", country code, up to 15 digits in all. */
const E164 = /^\+[1-9]\d{6,14}$/;

const webPushSubscription = z.object({
  endpoint: z.url().refine((u) => u.startsWith('https://'), 'must be an https URL'),
  keys: z.object({ p256dh: z.string().min(1), auth: z.string().min(1) }),
});

export type PushAddress =
  | { kind: 'webpush'; subscription: z.output<typeof webPushSubscription> }
  | { kind: 'token'; token: string };

/** A Web Push subscription (JSON) or a device token / external id (FCM, OneSignal). */
export function parsePushAddress(address: string): PushAddress | null {
  const trimmed = address.trim();
  if (trimmed.startsWith('{')) {
    try {
      const parsed = webPushSubscription.safeParse(JSON.parse(trimmed));
      return parsed.success ? { kind: 'webpush', subscription: parsed.data } : null;
    } catch {
      return null;
    }
  }
  return /^[A-Za-z0-9:_\-.]{1,4096}$/.test(trimmed) ? { kind: 'token', token: trimmed } : null;
}

/** Normalizes an address for its channel, or returns null when it is not valid for it. */
export function normalizeAddress(channel: Channel, address: string): string | null {
  const value = address.trim();
  if (channel === 'email') return EMAIL.safeParse(value).success && value.length <= 254 ? value.toLowerCase() : null;
  if (channel === 'sms') {
    const compact = value.replace(/[\s().-]/g, '');
    return E164.test(compact) ? compact : null;
  }
  return parsePushAddress(value) ? value : null;
}

export const ADDRESS_ERROR: Record<Channel, { code: string; message: string }> = {
  email: { code: 'INVALID_EMAIL', message: 'is not a valid email address' },
  sms: { code: 'INVALID_PHONE', message: 'is not a valid E.164 phone number (e.g. +14155550100)' },
  push: { code: 'INVALID_PUSH_ADDRESS', message: 'is not a Web Push subscription (JSON) or a device token' },
};
