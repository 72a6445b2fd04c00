import { z } from 'zod';

/** The groups this service knows (ID.me's seven communities, veterans split out of military, low income). */
export const KNOWN_GROUPS = [
  'military',
  'veteran',
  'first_responder',
  'government',
  'teacher',
  'student',
  'nurse',
  'low_income',
] as const;
export type KnownGroup = (typeof KNOWN_GROUPS)[number];

const GROUP_ALIASES: Record<string, string> = {
  military: 'military',
  veteran: 'veteran',
  veterans: 'veteran',
  responder: 'first_responder',
  responders: 'first_responder',
  first_responder: 'first_responder',
  firstresponder: 'first_responder',
  government: 'government',
  government_employee: 'government',
  teacher: 'teacher',
  student: 'student',
  nurse: 'nurse',
  low_income: 'low_income',
  lowincome: 'low_income',
};

/** Lowercase snake_case, then ID.me's spellings mapped to ours ("responder" → first_responder). */
export function normalizeGroupName(raw: string): string {
  const snake = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  return GROUP_ALIASES[snake] ?? snake;
}

/** ID.me's `/api/public/v3/attributes.json` payload. */
export const attributesPayloadSchema = z.looseObject({
  attributes: z
    .array(
      z.looseObject({
        handle: z.string().min(1),
        name: z.string().optional(),
        value: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
      }),
    )
    .default([]),
  status: z
    .array(
      z.looseObject({
        group: z.string().min(1),
        subgroups: z.array(z.string()).nullish(),
        verified: z.boolean(),
      }),
    )
    .default([]),
});
export type AttributesPayload = z.output<typeof attributesPayloadSchema>;

export interface NormalizedGroup {
  group: string;
  subgroups: string[];
  verified: boolean;
}

export interface NormalizedAttribute {
  handle: string;
  name: string;
  value: string | null;
}

const VETERAN_SUBGROUP = /veteran|retiree|retired/i;

// VA wartime periods (38 CFR 3.2), newest first; service outside all of them is "Peacetime".
const SERVICE_ERAS: { name: string; from: string; to?: string }[] = [
  { name: 'Post-9/11', from: '2001-09-11' },
  { name: 'Gulf War', from: '1990-08-02', to: '2001-09-10' },
  { name: 'Vietnam Era', from: '1964-08-05', to: '1975-05-07' },
  { name: 'Korean War', from: '1950-06-27', to: '1955-01-31' },
  { name: 'World War II', from: '1941-12-07', to: '1946-12-31' },
];

/** The most recent service era a period of service overlaps, or null when the dates are unusable. */
export function serviceEraOf(started: string | null | undefined, ended: string | null | undefined, now = new Date()): string | null {
  const start = started ? Date.parse(started) : NaN;
  if (!Number.isFinite(start)) return null;
  const endParsed = ended ? Date.parse(ended) : NaN;
  const end = Number.isFinite(endParsed) ? endParsed : now.getTime();
  if (end < start) return null;
  for (const era of SERVICE_ERAS) {
    const from = Date.parse(era.from);
    const to = era.to ? Date.parse(era.to) + 86_400_000 - 1 : Infinity;
    if (start <= to && end >= from) return era.name;
  }
  return 'Peacetime';
}

function text(value: string | number | boolean | null | undefined): string | null {
  if (value === undefined || value === null) return null;
  return String(value);
}

/**
 * Turns ID.me's payload into our groups and attributes: group names normalized, a `veteran` group
 * derived from military subgroups (veterans verify under military), and the veteran attributes
 * branch, service era and affiliation derived where ID.me gives them under other handles. Only
 * attributes whose handle is in `storeAttributes` (or "*") are kept.
 */
export function normalizeAttributesPayload(
  payload: AttributesPayload,
  options: { storeAttributes: string[]; now?: Date },
): { groups: NormalizedGroup[]; attributes: NormalizedAttribute[] } {
  const groups = new Map<string, NormalizedGroup>();
  for (const entry of payload.status) {
    const group = normalizeGroupName(entry.group);
    if (!group) continue;
    const subgroups = (entry.subgroups ?? []).map((s) => s.trim()).filter(Boolean);
    const existing = groups.get(group);
    if (existing) {
      existing.verified ||= entry.verified;
      existing.subgroups = [...new Set([...existing.subgroups, ...subgroups])];
    } else {
      groups.set(group, { group, subgroups, verified: entry.verified });
    }
  }
  const military = groups.get('military');
  if (military && !groups.has('veteran')) {
    const veteranSubgroups = military.subgroups.filter((s) => VETERAN_SUBGROUP.test(s));
    if (veteranSubgroups.length) {
      groups.set('veteran', { group: 'veteran', subgroups: veteranSubgroups, verified: military.verified });
    }
  }

  const raw = new Map<string, NormalizedAttribute>();
  for (const attribute of payload.attributes) {
    const handle = attribute.handle.trim().toLowerCase();
    raw.set(handle, { handle, name: attribute.name?.trim() || handle, value: text(attribute.value) });
  }
  const derived: NormalizedAttribute[] = [];
  const branch = raw.get('branch') ?? raw.get('military_branch');
  if (branch?.value && !raw.has('branch')) derived.push({ handle: 'branch', name: 'Branch', value: branch.value });
  if (!raw.has('service_era')) {
    const era = serviceEraOf(raw.get('military_service_started')?.value, raw.get('military_service_ended')?.value, options.now);
    if (era) derived.push({ handle: 'service_era', name: 'Service Era', value: era });
  }
  if (!raw.has('affiliation') && military?.verified && military.subgroups.length) {
    derived.push({ handle: 'affiliation', name: 'Affiliation', value: military.subgroups.join(', ') });
  }

  const keepAll = options.storeAttributes.includes('*');
  const keep = new Set(options.storeAttributes.map((h) => h.toLowerCase()));
  const attributes = [...raw.values(), ...derived].filter((a) => keepAll || keep.has(a.handle));
  return { groups: [...groups.values()], attributes };
}
