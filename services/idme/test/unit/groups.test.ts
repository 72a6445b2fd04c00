import { describe, expect, it } from 'vitest';
import { attributesPayloadSchema, normalizeAttributesPayload, normalizeGroupName, serviceEraOf } from '../../src/groups.js';

const DEFAULTS = { storeAttributes: ['affiliation', 'branch', 'service_era', 'military_branch'] };

describe('group normalization', () => {
  it("maps ID.me's group spellings to ours", () => {
    expect(normalizeGroupName('responder')).toBe('first_responder');
    expect(normalizeGroupName('First Responder')).toBe('first_responder');
    expect(normalizeGroupName('low-income')).toBe('low_income');
    expect(normalizeGroupName('Military')).toBe('military');
    expect(normalizeGroupName('hospital employee')).toBe('hospital_employee');
  });

  it('derives a veteran group from military subgroups (veterans verify under military)', () => {
    const payload = attributesPayloadSchema.parse({ status: [{ group: 'military', subgroups: ['Retiree'], verified: true }] });
    const { groups } = normalizeAttributesPayload(payload, DEFAULTS);
    expect(groups).toEqual([
      { group: 'military', subgroups: ['Retiree'], verified: true },
      { group: 'veteran', subgroups: ['Retiree'], verified: true },
    ]);
  });

  it('does not make a service member a veteran, and keeps an unverified military entry unverified', () => {
    const active = normalizeAttributesPayload(
      attributesPayloadSchema.parse({ status: [{ group: 'military', subgroups: ['Service Member'], verified: true }] }),
      DEFAULTS,
    );
    expect(active.groups.map((g) => g.group)).toEqual(['military']);
    const pending = normalizeAttributesPayload(
      attributesPayloadSchema.parse({ status: [{ group: 'military', subgroups: ['Veteran'], verified: false }] }),
      DEFAULTS,
    );
    expect(pending.groups.find((g) => g.group === 'veteran')?.verified).toBe(false);
  });

  it('merges duplicate entries and tolerates null subgroups and a missing status list', () => {
    const payload = attributesPayloadSchema.parse({
      status: [
        { group: 'responder', subgroups: null, verified: false },
        { group: 'first_responder', subgroups: ['EMT'], verified: true },
      ],
    });
    expect(normalizeAttributesPayload(payload, DEFAULTS).groups).toEqual([{ group: 'first_responder', subgroups: ['EMT'], verified: true }]);
    expect(attributesPayloadSchema.parse({}).status).toEqual([]);
  });

  it('refuses a payload of the wrong shape', () => {
    expect(attributesPayloadSchema.safeParse({ status: [{ group: 'military', verified: 'yes' }] }).success).toBe(false);
    expect(attributesPayloadSchema.safeParse({ attributes: [{ name: 'x' }] }).success).toBe(false);
  });
});

describe('attributes', () => {
  const payload = attributesPayloadSchema.parse({
    attributes: [
      { handle: 'fname', name: 'First Name', value: 'Riley' },
      { handle: 'email', name: 'Email', value: 'r@example.test' },
      { handle: 'military_branch', name: 'Military Branch', value: 'Marine Corps' },
      { handle: 'military_service_started', name: 'Started', value: '1968-03-01' },
      { handle: 'military_service_ended', name: 'Ended', value: '1972-02-01' },
      { handle: 'age', name: 'Age', value: 77 },
    ],
    status: [{ group: 'military', subgroups: ['Veteran'], verified: true }],
  });

  it('derives branch, service era and affiliation and keeps only allowed handles', () => {
    const { attributes } = normalizeAttributesPayload(payload, DEFAULTS);
    expect(attributes).toEqual([
      { handle: 'military_branch', name: 'Military Branch', value: 'Marine Corps' },
      { handle: 'branch', name: 'Branch', value: 'Marine Corps' },
      { handle: 'service_era', name: 'Service Era', value: 'Vietnam Era' },
      { handle: 'affiliation', name: 'Affiliation', value: 'Veteran' },
    ]);
  });

  it('keeps everything with "*", numbers as text', () => {
    const { attributes } = normalizeAttributesPayload(payload, { storeAttributes: ['*'] });
    expect(attributes.find((a) => a.handle === 'fname')?.value).toBe('Riley');
    expect(attributes.find((a) => a.handle === 'age')?.value).toBe('77');
  });

  it('prefers the attributes ID.me gives over derived ones', () => {
    const given = attributesPayloadSchema.parse({
      attributes: [
        { handle: 'service_era', name: 'Service Era', value: 'Cold War' },
        { handle: 'affiliation', name: 'Affiliation', value: 'Military Spouse' },
        { handle: 'military_service_started', name: 'Started', value: '1985-01-01' },
      ],
      status: [{ group: 'military', subgroups: ['Veteran'], verified: true }],
    });
    const { attributes } = normalizeAttributesPayload(given, DEFAULTS);
    expect(attributes).toEqual([
      { handle: 'service_era', name: 'Service Era', value: 'Cold War' },
      { handle: 'affiliation', name: 'Affiliation', value: 'Military Spouse' },
    ]);
  });
});

describe('service era', () => {
  const now = new Date('2026-11-23T00:00:00Z');
  it.each([
    ['1943-05-01', '1945-09-02', 'World War II'],
    ['1951-01-01', '1953-07-27', 'Korean War'],
    ['1966-01-01', '1970-01-01', 'Vietnam Era'],
    ['1977-01-01', '1982-01-01', 'Peacetime'],
    ['1990-01-01', '1994-01-01', 'Gulf War'],
    ['1999-01-01', '2001-09-11', 'Post-9/11'],
    ['1999-01-01', '2001-09-10', 'Gulf War'],
    ['2015-06-01', null, 'Post-9/11'],
  ])('%s → %s is %s', (started, ended, era) => {
    expect(serviceEraOf(started, ended, now)).toBe(era);
  });

  it('gives null for unusable dates', () => {
    expect(serviceEraOf(null, null, now)).toBeNull();
    expect(serviceEraOf('not a date', null, now)).toBeNull();
    expect(serviceEraOf('2010-01-01', '2005-01-01', now)).toBeNull();
  });
});
