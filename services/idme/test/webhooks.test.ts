import { testInfra, uniqueName } from '@nself/test-support';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyWebhookSignature } from '../src/use-cases/handle-webhook.js';
import { ACCOUNTS } from './support/fake-idme.js';
import { newUser, persistedRows, RETURN_URL, startHarness, tokenFor, verifyThroughBrowser, type FlowUser, type Harness } from './support/harness.js';

const SECRET = 'whsec_test_0123456789abcdef0123456789abcdef';

describe('webhook signature check (unit)', () => {
  const body = Buffer.from('{"id":"evt_1","type":"verification.revoked","data":{"subject":"s"}}');
  const now = new Date('2026-11-23T12:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);
  const check = (signature: string | undefined, timestamp: string | undefined, rawBody = body) => () =>
    verifyWebhookSignature({ secret: SECRET, rawBody, signature, timestamp, toleranceSeconds: 300, now });

  it('accepts a fresh correctly signed body, with or without the sha256= prefix', () => {
    expect(check(signWebhook(SECRET, ts, body), String(ts))).not.toThrow();
    expect(check(signWebhook(SECRET, ts, body).slice(7), String(ts))).not.toThrow();
    expect(check(signWebhook(SECRET, ts - 299, body), String(ts - 299))).not.toThrow();
  });

  it('refuses wrong secrets, altered bodies, altered timestamps and malformed headers', () => {
    expect(check(signWebhook('another-secret-0123456789abcdef0123456789', ts, body), String(ts))).toThrow(/signature does not match/);
    expect(check(signWebhook(SECRET, ts, body), String(ts), Buffer.from(body.toString().replace('"s"', '"t"')))).toThrow(/does not match/);
    expect(check(signWebhook(SECRET, ts, body), String(ts + 1))).toThrow(/does not match/);
    expect(check('sha256=abc', String(ts))).toThrow(/missing or malformed/);
    expect(check(undefined, String(ts))).toThrow(/missing or malformed/);
    expect(check(signWebhook(SECRET, ts, body), undefined)).toThrow(/Unix time/);
    expect(check(signWebhook(SECRET, ts, body), '2026-11-23')).toThrow(/Unix time/);
  });

  it('refuses timestamps outside the replay window, in the past and in the future', () => {
    expect(check(signWebhook(SECRET, ts - 301, body), String(ts - 301))).toThrow(/replay window/);
    expect(check(signWebhook(SECRET, ts + 301, body), String(ts + 301))).toThrow(/replay window/);
  });
});

describe('POST /v1/webhooks', () => {
  let h: Harness;

  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, webhookSecret: SECRET });
  });
  afterAll(() => h?.close());

  /** A user verified with an ID.me identity of their own (webhooks act on every record of an identity). */
  async function verifiedUser(template: keyof typeof ACCOUNTS): Promise<{ user: FlowUser; subject: string }> {
    const subject = uniqueName('idme-sub');
    h.fake.addAccount(subject, ACCOUNTS[template]);
    const user = newUser();
    expect((await verifyThroughBrowser(h, user, subject)).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    return { user, subject };
  }

  function deliver(event: unknown, options: { timestamp?: number; secret?: string; tamper?: (raw: string) => string } = {}) {
    const raw = JSON.stringify(event);
    const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
    const sent = options.tamper ? options.tamper(raw) : raw;
    return request(h.app)
      .post('/v1/webhooks')
      .set('content-type', 'application/json')
      .set(TIMESTAMP_HEADER, String(timestamp))
      .set(SIGNATURE_HEADER, signWebhook(options.secret ?? SECRET, timestamp, raw))
      .send(sent);
  }

  const status = async (user: FlowUser) =>
    (await request(h.app).get(`/v1/verifications/${user.userId}`).set('authorization', `Bearer ${tokenFor(user)}`)).body as {
      status: string;
      groups: { group: string; verified: boolean }[];
      badges: unknown[];
    };

  it('revokes every verification of the identity on a signed revocation, once per event id', async () => {
    const { user, subject } = await verifiedUser('veteran');
    const event = { id: uniqueName('evt'), type: 'verification.revoked', data: { subject } };
    const first = await deliver(event);
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false, handled: true, affected: 1 });
    expect((await status(user)).status).toBe('revoked');

    // The same event again (a retry or a replay inside the window) does nothing.
    const again = await deliver(event);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ received: true, duplicate: true, handled: false, affected: 0 });
  });

  it('withdraws one group and its badge on a group event', async () => {
    const { user, subject } = await verifiedUser('student');
    const res = await deliver({ id: uniqueName('evt'), type: 'group.revoked', data: { subject, group: 'student' } });
    expect(res.body).toMatchObject({ handled: true, affected: 1 });
    const view = await status(user);
    expect(view.status).toBe('unverified');
    expect(view.groups).toEqual([expect.objectContaining({ group: 'student', verified: false })]);
    expect(view.badges).toEqual([]);
  });

  it('refuses a bad signature (wrong secret or a body changed after signing) and records nothing', async () => {
    const { user, subject } = await verifiedUser('veteran');
    const rows = await persistedRows(h, user);
    const wrongSecret = { id: uniqueName('evt'), type: 'verification.revoked', data: { subject } };
    const res = await deliver(wrongSecret, { secret: 'not-the-secret-0123456789abcdef0123456789' });
    expect(res.status).toBe(401);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body.code).toBe('WEBHOOK_SIGNATURE_INVALID');

    const altered = { id: uniqueName('evt'), type: 'group.revoked', data: { subject, group: 'nurse' } };
    const res2 = await deliver(altered, { tamper: (raw) => raw.replace('"nurse"', '"military"') });
    expect(res2.status).toBe(401);
    expect(res2.body.code).toBe('WEBHOOK_SIGNATURE_INVALID');

    const unsigned = await request(h.app).post('/v1/webhooks').set('content-type', 'application/json').send(wrongSecret);
    expect(unsigned.status).toBe(401);

    expect(await h.deps.prisma.idmeWebhookEvent.count({ where: { eventId: { in: [wrongSecret.id, altered.id] } } })).toBe(0);
    expect((await status(user)).status).toBe('verified');
    expect(await persistedRows(h, user)).toEqual(rows);
  });

  it('refuses an old (replayed) timestamp even when correctly signed', async () => {
    const { user, subject } = await verifiedUser('veteran');
    const event = { id: uniqueName('evt'), type: 'verification.revoked', data: { subject } };
    const res = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('WEBHOOK_TIMESTAMP_OUT_OF_WINDOW');
    expect(await h.deps.prisma.idmeWebhookEvent.count({ where: { eventId: event.id } })).toBe(0);
    expect((await status(user)).status).toBe('verified');
  });

  it('accepts and records unknown event types without acting on them', async () => {
    const event = { id: uniqueName('evt'), type: 'profile.updated', data: { subject: 'whoever' } };
    const res = await deliver(event);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ received: true, duplicate: false, handled: false, affected: 0 });
    expect(await h.deps.prisma.idmeWebhookEvent.count({ where: { eventId: event.id } })).toBe(1);
  });

  it('refuses a signed body that is not a valid event', async () => {
    const res = await deliver({ type: 'verification.revoked' });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors[0].field).toBe('id');
  });
});
