import { DateTime, IANAZone } from 'luxon';
import type { Channel } from '../config.js';
import type { DigestFrequency, Priority } from './types.js';

/** The fields of a notification_preferences row that decide a delivery. */
export interface PreferenceRow {
  userId: string;
  channel: string;
  category: string;
  enabled: boolean;
  address: string | null;
  quietHoursStart: string | null;
  quietHoursEnd: string | null;
  timezone: string;
  digestFrequency: string;
}

export interface EffectivePreference {
  enabled: boolean;
  /** Whether the opt-out came from the category's own row (always respected) or the channel wildcard. */
  optOutSource: 'category' | 'wildcard' | null;
  address: string | null;
  quietHours: { start: string; end: string; timezone: string } | null;
  digestFrequency: DigestFrequency;
}

const HH_MM = /^([01]\d|2[0-3]):([0-5]\d)$/;

export function isValidTime(value: string): boolean {
  return HH_MM.test(value);
}

export function isValidTimezone(zone: string): boolean {
  return IANAZone.isValidZone(zone);
}

/**
 * The preference for one user × channel × category: the category's own row wins over the channel's
 * wildcard row ("*"); without rows a user is opted in with no address, no quiet hours, no digest.
 * The address is per channel: a category row without one inherits the wildcard row's.
 */
export function resolvePreference(rows: PreferenceRow[], channel: Channel, category: string): EffectivePreference {
  const own = rows.find((r) => r.channel === channel && r.category === category);
  const wildcard = rows.find((r) => r.channel === channel && r.category === '*');
  const row = own ?? wildcard;
  if (!row) return { enabled: true, optOutSource: null, address: null, quietHours: null, digestFrequency: 'none' };
  const quietStart = row.quietHoursStart ?? (own ? wildcard?.quietHoursStart : null) ?? null;
  const quietEnd = row.quietHoursEnd ?? (own ? wildcard?.quietHoursEnd : null) ?? null;
  return {
    enabled: row.enabled,
    optOutSource: row.enabled ? null : own ? 'category' : 'wildcard',
    address: own?.address ?? wildcard?.address ?? null,
    quietHours:
      quietStart && quietEnd && quietStart !== quietEnd
        ? { start: quietStart, end: quietEnd, timezone: row.timezone || 'UTC' }
        : null,
    digestFrequency: (row.digestFrequency as DigestFrequency) || 'none',
  };
}

/** Critical messages and transactional categories skip digests and quiet hours. */
export function bypassesBatching(priority: Priority, category: string, bypassCategories: string[]): boolean {
  return priority === 'critical' || bypassCategories.includes(category);
}

/**
 * Whether a user's opt-out stops this message: an opt-out of the category itself always does; a
 * channel-wide opt-out ("*") does not stop critical messages (security alerts, password resets).
 */
export function optedOut(pref: EffectivePreference, priority: Priority): boolean {
  if (pref.enabled) return false;
  return pref.optOutSource === 'category' || priority !== 'critical';
}

function minutes(value: string): number {
  const [h, m] = value.split(':').map(Number);
  return h! * 60 + m!;
}

/**
 * If `at` falls in the quiet hours (local time in the user's timezone; a window may wrap midnight),
 * the instant they end; otherwise null. DST gaps and overlaps are resolved by luxon.
 */
export function quietHoursEnd(at: Date, quiet: { start: string; end: string; timezone: string }): Date | null {
  const local = DateTime.fromJSDate(at, { zone: quiet.timezone });
  if (!local.isValid) return null;
  const now = local.hour * 60 + local.minute;
  const start = minutes(quiet.start);
  const end = minutes(quiet.end);
  const inside = start < end ? now >= start && now < end : now >= start || now < end;
  if (!inside) return null;
  let until = local.set({ hour: Math.floor(end / 60), minute: end % 60, second: 0, millisecond: 0 });
  if (until <= local) until = until.plus({ days: 1 });
  return until.toJSDate();
}

/** How long a digest collects before it is sent. */
export function digestWindowSeconds(frequency: DigestFrequency, batchIntervalSeconds: number): number | null {
  switch (frequency) {
    case 'interval':
      return batchIntervalSeconds;
    case 'hourly':
      return 3600;
    case 'daily':
      return 86_400;
    case 'weekly':
      return 604_800;
    default:
      return null;
  }
}
