import { describe, expect, it } from 'vitest';
import { normalizeAddress, parsePushAddress } from '../src/domain/addresses.js';
import { retryDelayMs } from '../src/domain/backoff.js';
import { uuidv7 } from '../src/domain/ids.js';
import { optedOut, quietHoursEnd, resolvePreference, type PreferenceRow } from '../src/domain/preferences.js';
import { prepareData, referencedVariables, renderForChannel, validateTemplate } from '../src/domain/templates.js';

describe('quiet hours', () => {
  const quiet = { start: '22:00', end: '07:00', timezone: 'America/New_York' };

  it('wraps midnight and ends at the local end time', () => {
    // 23:30 in New York on a winter day (UTC-5) → ends 07:00 local next morning = 12:00 UTC.
    expect(quietHoursEnd(new Date('2026-01-15T04:30:00Z'), quiet)?.toISOString()).toBe('2026-01-15T12:00:00.000Z');
    // 06:59 local → ends a minute later.
    expect(quietHoursEnd(new Date('2026-01-15T11:59:00Z'), quiet)?.toISOString()).toBe('2026-01-15T12:00:00.000Z');
    // 07:00 and 21:59 local are outside.
    expect(quietHoursEnd(new Date('2026-01-15T12:00:00Z'), quiet)).toBeNull();
    expect(quietHoursEnd(new Date('2026-01-16T02:59:00Z'), quiet)).toBeNull();
  });

  it('follows daylight saving time: the end is 07:00 local, whatever the UTC offset became', () => {
    // Night of the spring-forward (2026-03-08, 02:00 → 03:00): 01:30 EST = 06:30 UTC; 07:00 EDT = 11:00 UTC.
    expect(quietHoursEnd(new Date('2026-03-08T06:30:00Z'), quiet)?.toISOString()).toBe('2026-03-08T11:00:00.000Z');
  });

  it('handles windows inside one day', () => {
    const lunch = { start: '12:00', end: '13:30', timezone: 'Asia/Tokyo' };
    expect(quietHoursEnd(new Date('2026-06-01T03:15:00Z'), lunch)?.toISOString()).toBe('2026-06-01T04:30:00.000Z');
    expect(quietHoursEnd(new Date('2026-06-01T04:30:00Z'), lunch)).toBeNull();
  });
});

describe('preferences', () => {
  const row = (over: Partial<PreferenceRow>): PreferenceRow => ({
    userId: 'u',
    channel: 'email',
    category: '*',
    enabled: true,
    address: null,
    quietHoursStart: null,
    quietHoursEnd: null,
    timezone: 'UTC',
    digestFrequency: 'none',
    ...over,
  });

  it('prefers the category row, inherits the wildcard address, and lets critical pass a wildcard opt-out', () => {
    const rows = [row({ address: 'a@example.com', enabled: false }), row({ category: 'security', enabled: true })];
    const security = resolvePreference(rows, 'email', 'security');
    expect(security).toMatchObject({ enabled: true, address: 'a@example.com' });
    const marketing = resolvePreference(rows, 'email', 'marketing');
    expect(marketing).toMatchObject({ enabled: false, optOutSource: 'wildcard' });
    expect(optedOut(marketing, 'normal')).toBe(true);
    expect(optedOut(marketing, 'critical')).toBe(false);
    const own = resolvePreference([row({ category: 'news', enabled: false })], 'email', 'news');
    expect(optedOut(own, 'critical')).toBe(true);
    expect(resolvePreference([], 'sms', 'x')).toMatchObject({ enabled: true, address: null, digestFrequency: 'none' });
  });
});

describe('retry backoff', () => {
  it('doubles, is capped, and jitter only shortens it', () => {
    const opts = { baseMs: 1000, maxMs: 10_000, jitter: 0.2 };
    expect(retryDelayMs(1, opts, () => 0)).toBe(1000);
    expect(retryDelayMs(1, opts, () => 0.999999)).toBe(800);
    expect(retryDelayMs(3, opts, () => 0)).toBe(4000);
    expect(retryDelayMs(10, opts, () => 0)).toBe(10_000);
  });

  it('never shrinks from one retry to the next (jitter ≤ 0.5)', () => {
    const opts = { baseMs: 300, maxMs: 600_000, jitter: 0.5 };
    for (let attempt = 1; attempt < 10; attempt += 1) {
      expect(retryDelayMs(attempt + 1, opts, () => 0.999999)).toBeGreaterThanOrEqual(retryDelayMs(attempt, opts, () => 0));
    }
  });
});

describe('templates', () => {
  it('finds the variables a template reads, ignoring block-local names and helpers', () => {
    expect([...referencedVariables('{{a}} {{#if b}}{{c.d}}{{else}}{{e}}{{/if}} {{#each items}}{{name}}{{../f}}{{@root.g}}{{@index}}{{/each}}')].sort())
      .toEqual(['a', 'b', 'c', 'e', 'f', 'g', 'items']);
  });

  it('escapes HTML in the HTML body only, and refuses missing values', () => {
    const { variables } = validateTemplate({ subject: 'To {{who}}', bodyHtml: '<p>{{who}}</p>', bodyText: '{{who}}' }, undefined, undefined);
    const template = { id: 't', name: 't', version: 1, variables, subject: 'To {{who}}', bodyHtml: '<p>{{who}}</p>', bodyText: '{{who}}' };
    const content = renderForChannel(template, 'email', prepareData(template, { who: 'A & <B>' }));
    expect(content).toEqual({ subject: 'To A & <B>', text: 'A & <B>', html: '<p>A &amp; &lt;B&gt;</p>' });
    expect(() => prepareData(template, {})).toThrow(/needs "who"/);
  });
});

describe('addresses and ids', () => {
  it('normalizes emails and E.164 numbers and recognizes push addresses', () => {
    expect(normalizeAddress('email', ' Ada@Example.COM ')).toBe('ada@example.com');
    expect(normalizeAddress('email', 'ada@')).toBeNull();
    expect(normalizeAddress('sms', '+44 20 7946 0958')).toBe('+442079460958');
    expect(normalizeAddress('sms', '0207 946 0958')).toBeNull();
    expect(parsePushAddress('{"endpoint":"https://push.example/x","keys":{"p256dh":"k","auth":"a"}}')?.kind).toBe('webpush');
    expect(parsePushAddress('{"endpoint":"http://push.example/x","keys":{"p256dh":"k","auth":"a"}}')).toBeNull();
    expect(parsePushAddress('fcm-token:APA91b_x')?.kind).toBe('token');
  });

  it('makes time-ordered UUIDv7 ids', () => {
    const a = uuidv7(1_700_000_000_000);
    const b = uuidv7(1_700_000_000_001);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a < b).toBe(true);
  });
});
