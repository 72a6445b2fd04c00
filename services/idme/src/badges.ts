import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@nself/config';
import { z } from 'zod';
import { normalizeGroupName } from './groups.js';

/** The badge file shipped with the service (services/idme/config/badges.json). */
export const DEFAULT_BADGES_FILE = fileURLToPath(new URL('../config/badges.json', import.meta.url));

const badgeSchema = z.strictObject({
  name: z.string().min(1).max(100),
  icon: z.string().min(1).max(200).nullish(),
  color: z
    .string()
    .regex(/^#[0-9A-Fa-f]{3}([0-9A-Fa-f]{3})?([0-9A-Fa-f]{2})?$/, 'must be a hex colour like #1F3A93')
    .nullish(),
  order: z.number().int().default(0),
  /** Days a badge (and its group) stays valid after verification; null: until revoked. */
  expiresAfterDays: z.number().int().positive().nullish(),
});

export const badgeFileSchema = z.record(z.string().min(1), badgeSchema);

export interface BadgeDefinition {
  group: string;
  name: string;
  icon: string | null;
  color: string | null;
  order: number;
  expiresAfterDays: number | null;
}

export interface BadgeCatalog {
  forGroup(group: string): BadgeDefinition | undefined;
  all(): BadgeDefinition[];
}

export function createBadgeCatalog(definitions: z.input<typeof badgeFileSchema>): BadgeCatalog {
  const parsed = badgeFileSchema.parse(definitions);
  const byGroup = new Map<string, BadgeDefinition>();
  for (const [group, badge] of Object.entries(parsed)) {
    const key = normalizeGroupName(group);
    byGroup.set(key, {
      group: key,
      name: badge.name,
      icon: badge.icon ?? null,
      color: badge.color ?? null,
      order: badge.order,
      expiresAfterDays: badge.expiresAfterDays ?? null,
    });
  }
  return {
    forGroup: (group) => byGroup.get(normalizeGroupName(group)),
    all: () => [...byGroup.values()].sort((a, b) => a.order - b.order),
  };
}

/** Reads and validates the badge file; a missing or invalid file is a ConfigError naming IDME_BADGES_FILE. */
export function loadBadgeCatalog(file: string = DEFAULT_BADGES_FILE): BadgeCatalog {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'is not readable JSON';
    throw new ConfigError([{ variable: 'IDME_BADGES_FILE', problem: `${reason} (${file})` }]);
  }
  const result = badgeFileSchema.safeParse(json);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => ({
        variable: 'IDME_BADGES_FILE',
        problem: `${issue.path.map(String).join('.') || '(file)'}: ${issue.message}`,
      })),
    );
  }
  return createBadgeCatalog(result.data);
}
