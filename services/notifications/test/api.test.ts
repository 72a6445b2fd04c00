import { readFileSync } from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, describeServiceContract, TEST_ADMIN_SECRET, uniqueName } from '@nself/test-support';
import type { NotificationsConfig } from '../src/config.js';
import { startApi, type RunningProcess } from '../src/runtime.js';
import { admin, drainQueue, quietLogger, testConfig, withDb } from './helpers.js';

// The API on its own (no worker): validation, auth, templates, preferences, bulk fan-out, actions.
let api: RunningProcess;
let config: NotificationsConfig;

beforeAll(async () => {
  config = testConfig({
    NOTIFICATIONS_MAX_BODY: '64kb',
    NOTIFICATIONS_MAX_DATA_BYTES: '2048',
    NOTIFICATIONS_BULK_MAX: '500',
    NOTIFICATIONS_BULK_CHUNK: '100',
    // Nothing consumes the queue here; the relay must not republish while we inspect it.
    NOTIFICATIONS_RELAY_GRACE_MS: '600000',
  });
  api = await startApi(config, { logger: quietLogger(), port: 0 });
});

afterAll(async () => {
  await api?.stop();
});

describeServiceContract('notifications', () => ({ app: api.server, protectedRoute: { method: 'get', path: '/v1/templates' } }));

const welcome = {
  name: 'welcome',
  subject: 'Hi {{name}}',
  bodyText: 'Hello {{name}} from {{company.name}}',
  smsBody: 'Hi {{name}}',
  variables: [
    { name: 'name', required: true },
    { name: 'company', required: true },
  ],
};

async function newAccount(): Promise<string> {
  const account = uniqueName('acct');
  await request(api.server).post('/v1/templates').set(admin(account)).send(welcome).expect(201);
  return account;
}

async function rowCount(account: string): Promise<number> {
  return withDb(async (db) =>
    (await db.query('SELECT count(*)::int AS n FROM notifications WHERE source_account_id = $1', [account])).rows[0].n,
  );
}

describe('templates', () => {
  it('are created, versioned on update, readable per version, and deleted', async () => {
    const account = uniqueName('acct');
    const created = await request(api.server).post('/v1/templates').set(admin(account)).send(welcome);
    expect(created.status).toBe(201);
    expect(created.headers.location).toBe('/v1/templates/welcome');
    expect(created.body).toMatchObject({ name: 'welcome', version: 1, channels: ['email', 'sms'], category: 'general' });

    const dup = await request(api.server).post('/v1/templates').set(admin(account)).send(welcome);
    expect(dup.status).toBe(409);
    expect(dup.body.code).toBe('TEMPLATE_EXISTS');

    const updated = await request(api.server)
      .put('/v1/templates/welcome')
      .set(admin(account))
      .send({ ...welcome, name: undefined, subject: 'Welcome {{name}}', expectedVersion: 1 });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ version: 2, subject: 'Welcome {{name}}' });
    const stale = await request(api.server).put('/v1/templates/welcome').set(admin(account)).send({ ...welcome, name: undefined, expectedVersion: 1 });
    expect(stale.status).toBe(409);
    expect(stale.body.code).toBe('VERSION_CONFLICT');

    const v1 = await request(api.server).get('/v1/templates/welcome?version=1').set(admin(account));
    expect(v1.body).toMatchObject({ version: 1, subject: 'Hi {{name}}' });
    const current = await request(api.server).get('/v1/templates/welcome').set(admin(account));
    expect(current.body).toMatchObject({ version: 2, subject: 'Welcome {{name}}' });
    const versions = await request(api.server).get('/v1/templates/welcome/versions').set(admin(account));
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const list = await request(api.server).get('/v1/templates').set(admin(account));
    expect(list.body).toMatchObject({ total: 1, items: [{ name: 'welcome', version: 2 }] });
    // Another app does not see it.
    const other = await request(api.server).get('/v1/templates/welcome').set(admin(uniqueName('acct')));
    expect(other.status).toBe(404);

    expect((await request(api.server).delete('/v1/templates/welcome').set(admin(account))).status).toBe(204);
    const gone = await request(api.server).get('/v1/templates/welcome').set(admin(account));
    expect(gone.status).toBe(404);
    expect(gone.body.code).toBe('TEMPLATE_NOT_FOUND');
  });

  it('are validated on create: syntax, declared variables, channel parts', async () => {
    const account = uniqueName('acct');
    const post = (body: Record<string, unknown>) => request(api.server).post('/v1/templates').set(admin(account)).send(body);
    const syntax = await post({ name: 'bad', subject: 'Hi {{name', bodyText: 'x' });
    expect(syntax.status).toBe(400);
    expect(syntax.body).toMatchObject({ code: 'INVALID_TEMPLATE', errors: [{ field: 'subject', code: 'INVALID_TEMPLATE' }] });
    const undeclared = await post({ name: 'bad', subject: 'Hi {{name}}', bodyText: '{{other}}', variables: [{ name: 'name' }] });
    expect(undeclared.status).toBe(400);
    expect(undeclared.body.errors).toEqual([expect.objectContaining({ code: 'UNDECLARED_VARIABLE', message: expect.stringContaining('"other"') })]);
    const helper = await post({ name: 'bad', subject: '{{lookupUser id}}', bodyText: 'x' });
    expect(helper.status).toBe(400);
    const noChannel = await post({ name: 'bad', subject: 'only a subject' });
    expect(noChannel.status).toBe(400);
    expect(noChannel.body.code).toBe('TEMPLATE_HAS_NO_CHANNEL');
    const wrongChannel = await post({ name: 'bad', smsBody: 'x', channels: ['email'] });
    expect(wrongChannel.status).toBe(400);
    expect(wrongChannel.body.errors[0].code).toBe('CHANNEL_PARTS_MISSING');
    const badName = await post({ name: '../etc', smsBody: 'x' });
    expect(badName.status).toBe(400);
    expect(badName.body.code).toBe('VALIDATION_FAILED');
    // Inferred variables: every name the template reads, required.
    const inferred = await post({ name: 'ok', subject: '{{a}} {{#each list}}{{this.x}}{{@root.b}}{{/each}}', bodyText: '{{#if c}}{{d}}{{/if}}' });
    expect(inferred.status).toBe(201);
    expect(inferred.body.variables.map((v: { name: string }) => v.name)).toEqual(['a', 'b', 'c', 'd', 'list']);
  });

  it('are for admins only', async () => {
    const res = await request(api.server).get('/v1/templates').set(bearer({ sub: 'someone' }));
    expect(res.status).toBe(403);
    expect(res.body.code).toBe('ADMIN_REQUIRED');
    const ok = await request(api.server).get('/v1/templates').set(bearer({ sub: 'ops', roles: ['admin'] }));
    expect(ok.status).toBe(200);
  });
});

describe('sending: bad input gets a clear 4xx and writes nothing', () => {
  it('rejects unknown templates, missing variables, bad addresses and oversized payloads', async () => {
    const account = await newAccount();
    const send = (body: Record<string, unknown>) => request(api.server).post('/v1/notifications').set(admin(account)).send(body);
    const base = { userId: 'u1', template: 'welcome', data: { name: 'A', company: { name: 'C' } }, to: { email: 'a@example.com' } };

    const unknown = await send({ ...base, template: 'nope' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'TEMPLATE_NOT_FOUND']);
    expect(unknown.headers['content-type']).toMatch(/application\/problem\+json/);

    const missing = await send({ ...base, data: { company: { name: 'C' } } });
    expect([missing.status, missing.body.code]).toEqual([422, 'MISSING_VARIABLE']);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: 'data.name' })]);
    const nested = await send({ ...base, data: { name: 'A', company: {} } });
    expect([nested.status, nested.body.code]).toEqual([422, 'MISSING_VARIABLE']);
    expect(nested.body.detail).toMatch(/"name" not defined/);

    const email = await send({ ...base, to: { email: 'not-an-email' } });
    expect([email.status, email.body.code]).toEqual([400, 'INVALID_EMAIL']);
    expect(email.body.errors[0].field).toBe('to.email');
    const phone = await send({ ...base, channel: 'sms', to: { phone: '555-CALL-NOW' } });
    expect([phone.status, phone.body.code]).toEqual([400, 'INVALID_PHONE']);

    const big = await send({ ...base, data: { name: 'A', company: { name: 'C' }, blob: 'x'.repeat(70 * 1024) } });
    expect([big.status, big.body.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    const bigData = await send({ ...base, data: { name: 'A', company: { name: 'C' }, blob: 'x'.repeat(3000) } });
    expect([bigData.status, bigData.body.code]).toEqual([413, 'DATA_TOO_LARGE']);

    const extra = await send({ ...base, colour: 'red' });
    expect([extra.status, extra.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const channel = await send({ ...base, channel: 'fax' });
    expect([channel.status, channel.body.code]).toEqual([400, 'VALIDATION_FAILED']);
    const notInTemplate = await send({ ...base, channel: 'push' });
    expect([notInTemplate.status, notInTemplate.body.code]).toEqual([422, 'CHANNEL_NOT_SUPPORTED']);
    const noAddress = await send({ ...base, to: undefined });
    expect([noAddress.status, noAddress.body.code]).toEqual([422, 'NO_RECIPIENT_ADDRESS']);
    const malformed = await request(api.server)
      .post('/v1/notifications')
      .set(admin(account))
      .set('content-type', 'application/json')
      .send('{"userId": ');
    expect([malformed.status, malformed.body.code]).toEqual([400, 'MALFORMED_JSON']);

    const longSms = await request(api.server)
      .post('/v1/templates')
      .set(admin(account))
      .send({ name: 'long', smsBody: '{{text}}', variables: [{ name: 'text' }] });
    expect(longSms.status).toBe(201);
    const tooLong = await send({ userId: 'u1', template: 'long', data: { text: 'y'.repeat(1601) }, to: { phone: '+14155550100' } });
    expect([tooLong.status, tooLong.body.code]).toEqual([422, 'CONTENT_TOO_LONG']);

    const bulk = await request(api.server)
      .post('/v1/notifications/bulk')
      .set(admin(account))
      .send({ template: 'welcome', data: base.data, userIds: Array.from({ length: 501 }, (_, i) => `u${i}`) });
    expect([bulk.status, bulk.body.code]).toEqual([413, 'TOO_MANY_RECIPIENTS']);
    const badRecipient = await request(api.server)
      .post('/v1/notifications/bulk')
      .set(admin(account))
      .send({ template: 'welcome', data: base.data, recipients: [{ userId: 'a', to: { email: 'a@example.com' } }, { userId: 'b', to: { email: 'b@' } }] });
    expect([badRecipient.status, badRecipient.body.code]).toEqual([400, 'INVALID_EMAIL']);
    expect(badRecipient.body.errors[0].field).toBe('recipients.1.to.email');

    expect(await rowCount(account)).toBe(0);
  });

  it('lets users notify only themselves, without explicit addresses; bulk is for admins', async () => {
    const account = await newAccount();
    const user = bearer({ sub: 'alice', sourceAccountId: account });
    const data = { name: 'A', company: { name: 'C' } };
    const other = await request(api.server).post('/v1/notifications').set(user).send({ userId: 'bob', template: 'welcome', data });
    expect([other.status, other.body.code]).toEqual([403, 'FORBIDDEN']);
    const withTo = await request(api.server)
      .post('/v1/notifications')
      .set(user)
      .send({ userId: 'alice', template: 'welcome', data, to: { email: 'victim@example.com' } });
    expect(withTo.status).toBe(403);
    const bulk = await request(api.server).post('/v1/notifications/bulk').set(user).send({ template: 'welcome', data, userIds: ['alice'] });
    expect([bulk.status, bulk.body.code]).toEqual([403, 'ADMIN_REQUIRED']);
    await request(api.server)
      .put('/v1/users/alice/preferences')
      .set(user)
      .send([{ channel: 'email', address: 'alice@example.com' }])
      .expect(200);
    const self = await request(api.server).post('/v1/notifications').set(user).send({ userId: 'alice', template: 'welcome', data });
    expect(self.status).toBe(202);
    expect(self.body.notifications).toEqual([expect.objectContaining({ channel: 'email', status: 'queued' })]);
    const read = await request(api.server).get(`/v1/notifications/${self.body.id}`).set(user);
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ userId: 'alice', recipient: 'alice@example.com', subject: 'Hi A' });
    const notMine = await request(api.server).get(`/v1/notifications/${self.body.id}`).set(bearer({ sub: 'bob', sourceAccountId: account }));
    expect(notMine.status).toBe(403);
    const otherApp = await request(api.server).get(`/v1/notifications/${self.body.id}`).set(admin(uniqueName('acct')));
    expect(otherApp.status).toBe(404);
    const history = await request(api.server).get('/v1/users/alice/notifications').set(user);
    expect(history.body.items.map((n: { id: string }) => n.id)).toEqual([self.body.id]);
    expect((await request(api.server).get('/v1/users/bob/notifications').set(user)).status).toBe(403);
  });
});

describe('preferences', () => {
  it('validate addresses, times and time zones, and belong to their user', async () => {
    const account = uniqueName('acct');
    const user = bearer({ sub: 'carol', sourceAccountId: account });
    const put = (body: object, who = user) => request(api.server).put('/v1/users/carol/preferences').set(who).send(body);
    expect((await put([{ channel: 'email', address: 'nope' }])).body.code).toBe('INVALID_EMAIL');
    expect((await put([{ channel: 'sms', address: '12345' }])).body.code).toBe('INVALID_PHONE');
    expect((await put([{ channel: 'push', address: '{"endpoint": 1}' }])).body.code).toBe('INVALID_PUSH_ADDRESS');
    expect((await put([{ channel: 'email', timezone: 'Mars/Olympus' }])).body.code).toBe('INVALID_TIMEZONE');
    expect((await put([{ channel: 'email', quietHours: { start: '25:00', end: '07:00' } }])).body.code).toBe('INVALID_TIME');
    expect((await put([{ channel: 'email', digestFrequency: 'yearly' }])).body.code).toBe('VALIDATION_FAILED');
    expect((await put([{ channel: 'email' }], bearer({ sub: 'dave', sourceAccountId: account }))).status).toBe(403);
    const ok = await put({
      preferences: [
        { channel: 'email', address: 'Carol@Example.com', quietHours: { start: '22:00', end: '07:00' }, timezone: 'Europe/Berlin' },
        { channel: 'sms', category: 'marketing', enabled: false, address: '+1 (415) 555-0100' },
        { channel: 'email', category: 'social', digestFrequency: 'daily' },
      ],
    });
    expect(ok.status).toBe(200);
    expect(ok.body.preferences).toEqual([
      expect.objectContaining({ channel: 'email', category: '*', address: 'carol@example.com', quietHours: { start: '22:00', end: '07:00' }, timezone: 'Europe/Berlin' }),
      expect.objectContaining({ channel: 'email', category: 'social', digestFrequency: 'daily' }),
      expect.objectContaining({ channel: 'sms', category: 'marketing', enabled: false, address: '+14155550100' }),
    ]);
    const read = await request(api.server).get('/v1/users/carol/preferences').set(user);
    expect(read.body.preferences).toHaveLength(3);
  });
});

describe('bulk send', () => {
  it('fans out in batches: one queue message per chunk of ids (not one per user), skipping opted-out users', async () => {
    const account = await newAccount();
    const users = Array.from({ length: 250 }, (_, i) => `bulk-${i}`);
    await withDb(async (db) => {
      for (const [i, userId] of users.entries()) {
        if (i % 50 === 49) continue; // 5 users have no address
        await db.query(
          `INSERT INTO notification_preferences (id, source_account_id, user_id, channel, category, enabled, address, timezone, digest_frequency, updated_at)
           VALUES (gen_random_uuid(), $1, $2, 'email', '*', $3, $4, 'UTC', 'none', now())`,
          [account, userId, i % 25 !== 0, `${userId}@example.com`],
        );
      }
    });
    await drainQueue(`${config.env.NOTIFICATIONS_QUEUE_PREFIX}.deliver`);
    const res = await request(api.server)
      .post('/v1/notifications/bulk')
      .set(admin(account))
      .send({ template: 'welcome', channel: 'email', data: { name: 'All', company: { name: 'C' } }, userIds: [...users, 'bulk-0'] });
    expect(res.status).toBe(202);
    // 250 distinct users: 5 without an address (skipped, explicit channel), 10 opted out (skipped).
    expect(res.body).toMatchObject({ requested: 250, created: 250, queued: 235, skipped: 15, deferred: 0, batched: 0 });
    const queued = new Set(res.body.notifications.filter((n: { status: string }) => n.status === 'queued').map((n: { id: string }) => n.id));
    const messages = await drainQueue(`${config.env.NOTIFICATIONS_QUEUE_PREFIX}.deliver`);
    expect(messages).toHaveLength(3);
    const published = messages.flatMap((m) => JSON.parse(m.content.toString('utf8')).ids as string[]);
    expect(published).toHaveLength(235);
    expect(new Set(published)).toEqual(queued);
    for (const m of messages) expect(m.properties.deliveryMode).toBe(2);
    const dispatched = await withDb(async (db) =>
      (await db.query(`SELECT count(*)::int AS n FROM notifications WHERE source_account_id = $1 AND dispatched_at IS NOT NULL`, [account])).rows[0].n,
    );
    expect(dispatched).toBe(235);
  });
});

describe('Hasura Actions', () => {
  const action = (name: string, input: Record<string, unknown>, session: Record<string, string>) => ({
    action: { name },
    input,
    session_variables: session,
    request_query: 'mutation { ... }',
  });

  it('sendNotification runs as the Hasura session user (admin secret from Hasura, user from session_variables)', async () => {
    const account = await newAccount();
    const data = { name: 'H', company: { name: 'C' } };
    const hasura = { 'x-admin-secret': TEST_ADMIN_SECRET };
    const session = { 'x-hasura-role': 'user', 'x-hasura-user-id': 'erin', 'x-hasura-source-account-id': account };
    await request(api.server).put('/v1/users/erin/preferences').set(admin(account)).send([{ channel: 'sms', address: '+14155550101' }]).expect(200);

    const ok = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set(hasura)
      .send(action('sendNotification', { userId: 'erin', template: 'welcome', data, channel: null }, session));
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ status: 'queued', replayed: false, notificationIds: [ok.body.id] });

    const forbidden = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set(hasura)
      .send(action('sendNotification', { userId: 'frank', template: 'welcome', data }, session));
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ message: expect.any(String), extensions: { code: 'FORBIDDEN' } });

    const missing = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set(hasura)
      .send(action('sendNotification', { userId: 'erin', template: 'welcome', data: {} }, session));
    expect(missing.status).toBe(422);
    expect(missing.body.extensions.code).toBe('MISSING_VARIABLE');

    const anonymous = await request(api.server).post('/v1/actions/sendNotification').send(action('sendNotification', { userId: 'erin' }, session));
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.extensions.code).toBe('UNAUTHORIZED');
    const wrongSecret = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set('x-admin-secret', 'not-the-secret-0000')
      .send(action('sendNotification', { userId: 'erin' }, session));
    expect(wrongSecret.status).toBe(401);
    const wrongName = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set(hasura)
      .send(action('sendBulkNotifications', { userIds: ['erin'] }, session));
    expect(wrongName.body.extensions.code).toBe('WRONG_ACTION');

    // Forwarded client JWT instead of the admin secret: the token is the principal.
    const viaJwt = await request(api.server)
      .post('/v1/actions/sendNotification')
      .set(bearer({ sub: 'erin', sourceAccountId: account, hasura: true }))
      .send(action('sendNotification', { userId: 'erin', template: 'welcome', data }, {}));
    expect(viaJwt.status).toBe(200);
  });

  it('sendBulkNotifications needs an admin session and reports the fan-out', async () => {
    const account = await newAccount();
    const data = { name: 'B', company: { name: 'C' } };
    const hasura = { 'x-admin-secret': TEST_ADMIN_SECRET };
    for (const u of ['g1', 'g2', 'g3']) {
      await request(api.server).put(`/v1/users/${u}/preferences`).set(admin(account)).send([{ channel: 'email', address: `${u}@example.com` }]).expect(200);
    }
    const asUser = await request(api.server)
      .post('/v1/actions/sendBulkNotifications')
      .set(hasura)
      .send(action('sendBulkNotifications', { userIds: ['g1'], template: 'welcome', data }, { 'x-hasura-role': 'user', 'x-hasura-user-id': 'g1', 'x-hasura-source-account-id': account }));
    expect(asUser.status).toBe(403);
    const res = await request(api.server)
      .post('/v1/actions/sendBulkNotifications')
      .set(hasura)
      .send(action('sendBulkNotifications', { userIds: ['g1', 'g2', 'g3', 'g4'], template: 'welcome', data }, { 'x-hasura-role': 'admin', 'x-hasura-source-account-id': account }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ requested: 4, created: 3, queued: 3, skipped: 0, replayed: false });
    expect(res.body.notificationIds).toHaveLength(3);
  });

  it('ships actions.graphql and actions.yaml for both handlers', () => {
    const dir = path.resolve(import.meta.dirname, '../hasura');
    const graphql = readFileSync(path.join(dir, 'actions.graphql'), 'utf8');
    const yaml = readFileSync(path.join(dir, 'actions.yaml'), 'utf8');
    for (const name of ['sendNotification', 'sendBulkNotifications']) {
      expect(graphql).toMatch(new RegExp(`\\b${name}\\s*\\(`));
      expect(yaml).toContain(`name: ${name}`);
      expect(yaml).toContain(`/v1/actions/${name}`);
    }
    expect(yaml).toContain('x-admin-secret');
  });
});

describe('stats and providers', () => {
  it('reports counts by status and channel, and lets an app reorder providers', async () => {
    const account = await newAccount();
    const data = { name: 'S', company: { name: 'C' } };
    for (const email of ['s1@example.com', 's2@example.com']) {
      await request(api.server).post('/v1/notifications').set(admin(account)).send({ userId: email, template: 'welcome', data, to: { email } }).expect(202);
    }
    const stats = await request(api.server).get('/v1/stats').set(admin(account));
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({ windowHours: 24, total: 2, byStatus: { queued: 2 }, byChannel: { email: { queued: 2 } } });
    expect(stats.body.queues).toMatchObject({ deliver: expect.any(Number), dead: expect.any(Number) });
    expect((await request(api.server).get('/v1/stats').set(bearer({ sub: 'x', sourceAccountId: account }))).status).toBe(403);

    const put = await request(api.server).put('/v1/providers/sms/plivo').set(admin(account)).send({ priority: 5, config: { note: 'primary' } });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ channel: 'sms', name: 'plivo', priority: 5, enabled: true });
    expect((await request(api.server).put('/v1/providers/sms/carrier-pigeon').set(admin(account)).send({})).status).toBe(404);
    expect((await request(api.server).put('/v1/providers/sms/plivo').set(admin(account)).send({ config: { apiKey: { nested: true } } })).status).toBe(400);
  });
});
