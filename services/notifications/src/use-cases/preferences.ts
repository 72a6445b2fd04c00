import type { NotificationPreferenceModel as NotificationPreference, PrismaClient } from '@nself/db';
import { AppError, parseInput, type FieldError } from '@nself/errors';
import { z } from 'zod';
import { CHANNELS } from '../config.js';
import { ADDRESS_ERROR, normalizeAddress } from '../domain/addresses.js';
import { isValidTime, isValidTimezone } from '../domain/preferences.js';
import { DIGEST_FREQUENCIES } from '../domain/types.js';

const preferenceSchema = z
  .object({
    channel: z.enum(CHANNELS),
    /** A category, or "*" for the channel's default. */
    category: z.string().regex(/^(\*|[A-Za-z0-9][A-Za-z0-9._-]{0,63})$/).default('*'),
    enabled: z.boolean().default(true),
    address: z.string().max(8192).nullish(),
    quietHours: z.object({ start: z.string(), end: z.string() }).strict().nullish(),
    timezone: z.string().max(64).default('UTC'),
    digestFrequency: z.enum(DIGEST_FREQUENCIES).default('none'),
  })
  .strict();

const putSchema = z.union([
  z.object({ preferences: z.array(preferenceSchema).min(1).max(100) }).strict(),
  z.array(preferenceSchema).min(1).max(100),
]);

export type PreferenceView = ReturnType<typeof toView>;

function toView(p: NotificationPreference) {
  return {
    channel: p.channel,
    category: p.category,
    enabled: p.enabled,
    address: p.address,
    quietHours: p.quietHoursStart && p.quietHoursEnd ? { start: p.quietHoursStart, end: p.quietHoursEnd } : null,
    timezone: p.timezone,
    digestFrequency: p.digestFrequency,
    updatedAt: p.updatedAt.toISOString(),
  };
}

export async function getPreferences(prisma: PrismaClient, sourceAccountId: string, userId: string): Promise<PreferenceView[]> {
  const rows = await prisma.notificationPreference.findMany({
    where: { sourceAccountId, userId },
    orderBy: [{ channel: 'asc' }, { category: 'asc' }],
  });
  return rows.map(toView);
}

/** Upserts the given user × channel × category rows (others are left as they are). */
export async function putPreferences(
  prisma: PrismaClient,
  sourceAccountId: string,
  userId: string,
  input: unknown,
): Promise<PreferenceView[]> {
  const parsed = parseInput(putSchema, input);
  const list = Array.isArray(parsed) ? parsed : parsed.preferences;
  const errors: FieldError[] = [];
  const rows = list.map((p, i) => {
    let address: string | null = null;
    if (p.address) {
      address = normalizeAddress(p.channel, p.address);
      if (!address) errors.push({ field: `preferences.${i}.address`, ...ADDRESS_ERROR[p.channel] });
    }
    if (p.quietHours && (!isValidTime(p.quietHours.start) || !isValidTime(p.quietHours.end))) {
      errors.push({ field: `preferences.${i}.quietHours`, code: 'INVALID_TIME', message: 'start and end are HH:MM (24 h)' });
    }
    if (!isValidTimezone(p.timezone)) {
      errors.push({ field: `preferences.${i}.timezone`, code: 'INVALID_TIMEZONE', message: 'is not an IANA time zone' });
    }
    return { ...p, address };
  });
  if (errors.length) {
    // The first address error gives the problem its code (INVALID_EMAIL / INVALID_PHONE / …).
    const code = errors[0]!.code;
    throw new AppError(code, 400, 'The preferences are invalid', { errors });
  }
  await prisma.$transaction(
    rows.map((p) => {
      const data = {
        enabled: p.enabled,
        address: p.address,
        quietHoursStart: p.quietHours?.start ?? null,
        quietHoursEnd: p.quietHours?.end ?? null,
        timezone: p.timezone,
        digestFrequency: p.digestFrequency,
      };
      return prisma.notificationPreference.upsert({
        where: {
          sourceAccountId_userId_channel_category: { sourceAccountId, userId, channel: p.channel, category: p.category },
        },
        create: { sourceAccountId, userId, channel: p.channel, category: p.category, ...data },
        update: data,
      });
    }),
  );
  return getPreferences(prisma, sourceAccountId, userId);
}
