import { DateTime } from 'luxon';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtpReceiver, uniqueName, waitFor, type SmtpReceiver } from '@nself/test-support';
import { MARK_DISPATCHED_SQL } from '../src/adapters/delivery-store.js';
import { startApi, startWorker, type RunningProcess } from '../src/runtime.js';
import type { NotificationsConfig } from '../src/config.js';
import { admin, collectEvents, drainQueue, parseMail, quietLogger, testConfig, withDb } from './helpers.js';

// One API and one worker for the file, on real Postgres, RabbitMQ and two real SMTP receivers
// (a primary and a fallback provider). Each test uses an app (account) of its own.
describe('notifications delivery (RabbitMQ, Postgres, SMTP)', () => {
  let primary: SmtpReceiver;
  let fallback: SmtpReceiver;
  let config: NotificationsConfig;
  let api: RunningProcess;
  let worker: RunningProcess;
  let events: Awaited<ReturnType<typeof collectEvents>>;
  let base: string;

  beforeAll(async () => {
    primary = await startSmtpReceiver();
    fallback = await startSmtpReceiver();
    config = testConfig({
      NOTIFICATIONS_SMTP_URL: `smtp://${primary.host}:${primary.port}?ignoreTLS=true`,
      NOTIFICATIONS_SMTP_FALLBACK_URL: `smtp://${fallback.host}:${fallback.port}?ignoreTLS=true`,
      NOTIFICATIONS_EMAIL_FROM: 'Test App <no-reply@test.example>',
      NOTIFICATIONS_RETRY_BASE_MS: '300',
      NOTIFICATIONS_RETRY_JITTER: '0.2',
      NOTIFICATIONS_PROVIDER_ATTEMPTS: '3',
      NOTIFICATIONS_MAX_ATTEMPTS: '5',
      NOTIFICATIONS_BATCH_INTERVAL: '2',
    });
    events = await collectEvents(config.env.EVENTS_EXCHANGE);
    api = await startApi(config, { logger: quietLogger(), port: 0 });
    worker = await startWorker(config, { logger: quietLogger('worker'), port: 0 });
    base = `http://127.0.0.1:${api.port}`;
  });

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await events?.close();
    await primary?.close();
    await fallback?.close();
  });

  async function createTemplate(account: string, body: Record<string, unknown>) {
    const res = await request(base).post('/v1/templates').set(admin(account)).send(body);
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  }

  const welcome = {
    name: 'welcome',
    category: 'account',
    subject: 'Welcome, {{name}}!',
    bodyText: 'Hello {{name}}, your plan is {{plan}}.',
    bodyHtml: '<p>Hello <b>{{name}}</b>, your plan is {{plan}}.</p>',
    variables: [
      { name: 'name', required: true },
      { name: 'plan', required: false, default: 'free' },
    ],
  };

  const mailsTo = (receiver: SmtpReceiver, address: string) => receiver.messages.filter((m) => m.to.includes(address));

  async function statusOf(account: string, id: string) {
    const res = await request(base).get(`/v1/notifications/${id}`).set(admin(account));
    expect(res.status).toBe(200);
    return res.body;
  }

  it('delivers an email with the rendered, HTML-escaped subject and body and records it', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const res = await request(base)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ userId: 'u1', template: 'welcome', data: { name: 'Ada <script>' }, to: { email: to } });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'queued', notifications: [{ channel: 'email', status: 'queued' }] });
    const id = res.body.id as string;

    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 15_000, label: 'the email' });
    const mail = await parseMail(mailsTo(primary, to)[0]!.raw);
    expect(mail.subject).toBe('Welcome, Ada <script>!');
    expect(mail.text?.trim()).toBe('Hello Ada <script>, your plan is free.');
    expect(mail.html).toContain('<b>Ada &lt;script&gt;</b>');
    expect(mail.html).not.toContain('<script>');
    expect(mail.from?.value[0]).toMatchObject({ name: 'Test App', address: 'no-reply@test.example' });
    expect(mail.messageId).toBe(`<${id}@nself.notifications>`);
    expect(mail.headers.get('x-notification-id')).toBe(id);
    expect((mail.to as { value: { address: string }[] }).value[0]!.address).toBe(to);
    expect(Math.abs(mail.date!.getTime() - Date.now())).toBeLessThan(60_000);

    const row = await waitFor(async () => {
      const body = await statusOf(account, id);
      return body.status === 'sent' ? body : null;
    }, { timeoutMs: 10_000, label: 'status sent' });
    expect(row).toMatchObject({ provider: 'smtp', attempts: 1, template: 'welcome', templateVersion: 1 });
    expect(row.providerMessageId).toBe(`<${id}@nself.notifications>`);
    expect(row.deliveryAttempts).toEqual([expect.objectContaining({ attempt: 1, status: 'sent', provider: 'smtp' })]);
    await waitFor(() => events.events.find((e) => e.type === 'notification.sent' && (e.data as { notificationId: string }).notificationId === id), {
      label: 'notification.sent event',
    });
    const event = events.events.find((e) => (e.data as { notificationId: string }).notificationId === id)!;
    expect(event).toMatchObject({ source: 'notifications', sourceAccountId: account, userId: 'u1', data: { channel: 'email', provider: 'smtp' } });
  });

  it('marks published rows dispatched without waiting for rows another transaction holds', async () => {
    // The API marks rows after publishing while the worker may already be recording them: waiting for
    // the worker's row locks, taken in another order, deadlocked under load and failed accepted requests.
    const account = uniqueName('acct');
    await createTemplate(account, welcome);
    const recipients = [1, 2, 3].map((i) => ({ userId: `u${i}`, to: { email: `${uniqueName('u')}@example.com` } }));
    const res = await request(base).post('/v1/notifications/bulk').set(admin(account)).send({ template: 'welcome', data: { name: 'A' }, recipients });
    expect(res.status).toBe(202);
    const ids = await waitFor(async () => {
      const rows = await withDb((db) => db.query("SELECT id FROM notifications WHERE source_account_id = $1 AND status = 'sent' ORDER BY id", [account]));
      return rows.rows.length === 3 ? rows.rows.map((r) => r.id as string) : null;
    }, { timeoutMs: 15_000, label: 'three sent' });

    await withDb(async (holder) => {
      await holder.query('UPDATE notifications SET dispatched_at = NULL WHERE id = ANY($1::uuid[])', [ids]);
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM notifications WHERE id = $1 FOR UPDATE', [ids[0]]);
      try {
        await withDb(async (db) => {
          await db.query("SET statement_timeout = '5s'");
          const marked = await db.query(MARK_DISPATCHED_SQL, [ids]);
          expect(marked.rowCount).toBe(2);
          const { rows } = await db.query('SELECT id, dispatched_at FROM notifications WHERE id = ANY($1::uuid[]) ORDER BY id', [ids]);
          expect(rows.map((r) => r.dispatched_at !== null)).toEqual([false, true, true]);
        });
      } finally {
        await holder.query('ROLLBACK');
      }
    });
  });

  it('respects an opt-out: the notification is recorded as skipped and nothing is sent', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const prefs = await request(base)
      .put('/v1/users/u2/preferences')
      .set(admin(account))
      .send({ preferences: [{ channel: 'email', category: '*', address: to }, { channel: 'email', category: 'account', enabled: false }] });
    expect(prefs.status).toBe(200);
    const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u2', template: 'welcome', data: { name: 'B' } });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('skipped');
    // The same user still gets other categories (the wildcard row gives the address).
    const other = await request(base)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ userId: 'u2', template: 'welcome', category: 'billing', data: { name: 'B' } });
    expect(other.body.status).toBe('queued');
    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 15_000, label: 'the billing email' });
    const row = await statusOf(account, res.body.id);
    expect(row).toMatchObject({ status: 'skipped', lastError: 'the user opted out of account on email', attempts: 0 });
    expect(mailsTo(primary, to)).toHaveLength(1);
    expect((await parseMail(mailsTo(primary, to)[0]!.raw)).headers.get('x-notification-category')).toBe('billing');
  });

  it('defers a message in quiet hours (user time zone) until they end; critical messages go at once', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const zone = 'Asia/Tokyo';
    const local = DateTime.now().setZone(zone);
    const start = local.minus({ hours: 1 }).toFormat('HH:mm');
    const end = local.plus({ hours: 2 }).toFormat('HH:mm');
    await request(base)
      .put('/v1/users/u3/preferences')
      .set(admin(account))
      .send([{ channel: 'email', address: to, quietHours: { start, end }, timezone: zone }])
      .expect(200);

    const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u3', template: 'welcome', data: { name: 'Q' } });
    expect(res.status).toBe(202);
    expect(res.body.status).toBe('deferred');
    const expectedEnd = local.plus({ hours: 2 }).set({ second: 0, millisecond: 0 });
    expect(new Date(res.body.notifications[0].scheduledFor).getTime()).toBe(expectedEnd.toMillis());

    const critical = await request(base)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ userId: 'u3', template: 'welcome', data: { name: 'Alarm' }, priority: 'critical' });
    expect(critical.body.status).toBe('queued');
    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 15_000, label: 'the critical email' });
    // Several dispatcher ticks pass; the deferred one is still held.
    await new Promise((r) => setTimeout(r, 1000));
    expect(mailsTo(primary, to)).toHaveLength(1);
    expect((await statusOf(account, res.body.id)).status).toBe('deferred');

    // Time passes (the quiet hours end): the dispatcher releases it, nothing was dropped.
    await withDb((db) => db.query(`UPDATE notifications SET scheduled_for = now() WHERE id = $1`, [res.body.id]));
    await waitFor(() => mailsTo(primary, to).length === 2, { timeoutMs: 15_000, label: 'the deferred email' });
    const subjects = await Promise.all(mailsTo(primary, to).map(async (m) => (await parseMail(m.raw)).subject));
    expect(subjects.sort()).toEqual(['Welcome, Alarm!', 'Welcome, Q!']);
  });

  it('does not send a deferred message to a user who opted out while it waited', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const zone = 'Europe/Lisbon';
    const local = DateTime.now().setZone(zone);
    const quietHours = { start: local.minus({ hours: 1 }).toFormat('HH:mm'), end: local.plus({ hours: 1 }).toFormat('HH:mm') };
    await request(base).put('/v1/users/u9/preferences').set(admin(account)).send([{ channel: 'email', address: to, quietHours, timezone: zone }]).expect(200);
    const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u9', template: 'welcome', data: { name: 'Gone' } });
    expect(res.body.status).toBe('deferred');
    await request(base).put('/v1/users/u9/preferences').set(admin(account)).send([{ channel: 'email', category: 'account', enabled: false }]).expect(200);
    await withDb((db) => db.query(`UPDATE notifications SET scheduled_for = now() WHERE id = $1`, [res.body.id]));
    const row = await waitFor(async () => {
      const body = await statusOf(account, res.body.id);
      return body.status === 'skipped' ? body : null;
    }, { timeoutMs: 15_000, label: 'status skipped' });
    expect(row.lastError).toBe('the user opted out before it was sent');
    expect(mailsTo(primary, to)).toHaveLength(0);
  });

  it('holds a scheduled send until its time', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const sendAt = new Date(Date.now() + 2000);
    const res = await request(base)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ userId: 'u8', template: 'welcome', data: { name: 'Later' }, to: { email: to }, sendAt: sendAt.toISOString() });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'deferred', notifications: [{ scheduledFor: sendAt.toISOString() }] });
    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 15_000, label: 'the scheduled email' });
    const row = await statusOf(account, res.body.id);
    expect(new Date(row.sentAt).getTime()).toBeGreaterThanOrEqual(sendAt.getTime());
  });

  it('collects notifications into one digest rendered from the digest template', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, { name: 'liked', category: 'social', subject: '{{who}} liked your post', bodyText: '{{who}} liked it' });
    await createTemplate(account, {
      name: 'digest',
      subject: '{{count}} updates in {{category}}',
      bodyText: '{{#each items}}* {{subject}}\n{{/each}}',
      bodyHtml: '<ul>{{#each items}}<li>{{subject}}</li>{{/each}}</ul>',
      variables: [{ name: 'count', required: true }, { name: 'category', required: true }, { name: 'items', required: true }],
    });
    await request(base)
      .put('/v1/users/u4/preferences')
      .set(admin(account))
      .send([{ channel: 'email', category: '*', address: to, digestFrequency: 'interval' }])
      .expect(200);
    const people = ['Ann', 'Bob', 'Cy <3', 'Dee'];
    const ids: string[] = [];
    for (const who of people) {
      const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u4', template: 'liked', data: { who } });
      expect(res.body.status).toBe('batched');
      ids.push(res.body.id);
    }
    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 20_000, label: 'the digest' });
    await new Promise((r) => setTimeout(r, 500));
    expect(mailsTo(primary, to)).toHaveLength(1);
    const mail = await parseMail(mailsTo(primary, to)[0]!.raw);
    expect(mail.subject).toBe('4 updates in social');
    expect(mail.text).toBe('* Ann liked your post\n* Bob liked your post\n* Cy <3 liked your post\n* Dee liked your post\n');
    expect(mail.html).toContain('<li>Cy &lt;3 liked your post</li>');
    const rows = await waitFor(async () => {
      const all = await Promise.all(ids.map((id) => statusOf(account, id)));
      return all.every((r) => r.status === 'sent') ? all : null;
    }, { timeoutMs: 10_000, label: 'items marked sent' });
    const batchIds = new Set(rows.map((r) => r.batchId));
    expect(batchIds.size).toBe(1);
    const batch = await withDb(async (db) => (await db.query('SELECT status, item_count FROM notification_batches WHERE id = $1', [[...batchIds][0]])).rows[0]);
    expect(batch).toEqual({ status: 'sent', item_count: 4 });
  });

  it('sends once for the same idempotency key, however often and concurrently it is repeated', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    const body = { userId: 'u5', template: 'welcome', data: { name: 'Idem' }, to: { email: to } };
    const responses = await Promise.all(
      [1, 2, 3].map(() => request(base).post('/v1/notifications').set(admin(account)).set('Idempotency-Key', 'order-42').send(body)),
    );
    for (const r of responses) expect(r.status).toBe(202);
    expect(new Set(responses.map((r) => r.body.id)).size).toBe(1);
    expect(responses.map((r) => r.headers['idempotent-replayed']).sort()).toEqual(['false', 'true', 'true']);
    const again = await request(base).post('/v1/notifications').set(admin(account)).send({ ...body, idempotencyKey: 'order-42' });
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(responses[0]!.body.id);
    const different = await request(base)
      .post('/v1/notifications')
      .set(admin(account))
      .send({ ...body, data: { name: 'Other' }, idempotencyKey: 'order-42' });
    expect(different.status).toBe(422);
    expect(different.body.code).toBe('IDEMPOTENCY_KEY_REUSED');

    await waitFor(() => mailsTo(primary, to).length === 1, { timeoutMs: 15_000, label: 'the email' });
    await new Promise((r) => setTimeout(r, 1000));
    expect(mailsTo(primary, to)).toHaveLength(1);
    const count = await withDb(async (db) => (await db.query('SELECT count(*)::int AS n FROM notifications WHERE source_account_id = $1', [account])).rows[0].n);
    expect(count).toBe(1);
  });

  it('retries a failing provider with growing delays, then fails over to the next provider', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    primary.failNext(3, 451);
    const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u6', template: 'welcome', data: { name: 'Retry' }, to: { email: to } });
    expect(res.status).toBe(202);
    await waitFor(() => mailsTo(fallback, to).length === 1, { timeoutMs: 20_000, label: 'delivery through the fallback' });
    expect(mailsTo(primary, to)).toHaveLength(0);
    const row = await waitFor(async () => {
      const body = await statusOf(account, res.body.id);
      return body.status === 'sent' ? body : null;
    }, { timeoutMs: 10_000, label: 'status sent' });
    expect(row).toMatchObject({ provider: 'smtp-fallback', attempts: 4, lastError: null });
    const attempts = row.deliveryAttempts as { attempt: number; status: string; provider: string; error: string | null; nextAttemptAt: string | null; at: string }[];
    expect(attempts.map((a) => [a.attempt, a.status, a.provider])).toEqual([
      [1, 'failed', 'smtp'],
      [2, 'failed', 'smtp'],
      [3, 'failed', 'smtp'],
      [4, 'sent', 'smtp-fallback'],
    ]);
    expect(attempts[0]!.error).toMatch(/451/);
    // Scheduled delays: base 300 ms doubling, jitter shortens by at most 20 %.
    const scheduled = attempts.slice(0, 3).map((a) => new Date(a.nextAttemptAt!).getTime() - new Date(a.at).getTime());
    expect(scheduled[0]).toBeGreaterThanOrEqual(240);
    expect(scheduled[0]).toBeLessThanOrEqual(300);
    expect(scheduled[1]).toBeGreaterThanOrEqual(480);
    expect(scheduled[1]).toBeLessThanOrEqual(600);
    expect(scheduled[2]).toBeGreaterThanOrEqual(960);
    expect(scheduled[2]).toBeLessThanOrEqual(1200);
    // And the attempts really happened that far apart (the delay queues held them back).
    const at = attempts.map((a) => new Date(a.at).getTime());
    const gaps = [at[1]! - at[0]!, at[2]! - at[1]!, at[3]! - at[2]!];
    expect(gaps[0]).toBeGreaterThanOrEqual(240);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]).toBeGreaterThan(gaps[1]!);
  });

  it('dead-letters a permanently failing send with its error once every provider refused it', async () => {
    const account = uniqueName('acct');
    const to = `${uniqueName('u')}@example.com`;
    await createTemplate(account, welcome);
    primary.failNext(1, 550);
    fallback.failNext(1, 550);
    const res = await request(base).post('/v1/notifications').set(admin(account)).send({ userId: 'u7', template: 'welcome', data: { name: 'Dead' }, to: { email: to } });
    const id = res.body.id as string;
    const row = await waitFor(async () => {
      const body = await statusOf(account, id);
      return body.status === 'failed' ? body : null;
    }, { timeoutMs: 20_000, label: 'status failed' });
    expect(row.attempts).toBe(2);
    expect(row.lastError).toMatch(/smtp-fallback: .*550/);
    expect(row.failedAt).not.toBeNull();
    expect(row.deliveryAttempts.map((a: { status: string; provider: string }) => [a.status, a.provider])).toEqual([
      ['rejected', 'smtp'],
      ['dead_lettered', 'smtp-fallback'],
    ]);
    const dead = await drainQueue(`${config.env.NOTIFICATIONS_QUEUE_PREFIX}.dead`);
    const mine = dead.find((m) => m.properties.headers?.['x-notification-id'] === id);
    expect(mine, 'message in the dead-letter queue').toBeDefined();
    expect(String(mine!.properties.headers!['x-error'])).toMatch(/550/);
    expect(JSON.parse(mine!.content.toString('utf8'))).toMatchObject({ ids: [id] });
    await waitFor(() => events.events.find((e) => e.type === 'notification.failed' && (e.data as { notificationId: string }).notificationId === id), {
      label: 'notification.failed event',
    });
    expect(mailsTo(primary, to)).toHaveLength(0);
    expect(mailsTo(fallback, to)).toHaveLength(0);
  });
});
