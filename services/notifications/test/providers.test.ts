import { createECDH, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { decodeProtectedHeader, importSPKI, jwtVerify } from 'jose';
import request from 'supertest';
import webpush from 'web-push';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueName, waitFor } from '@nself/test-support';
import { startApi, startWorker, type RunningProcess } from '../src/runtime.js';
import { signGeneric, twilioSignature } from '../src/use-cases/webhooks.js';
import { admin, collectEvents, quietLogger, selfSignedCertificate, startStandIn, testConfig, type StandIn } from './helpers.js';

const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(buffer: Buffer, params: { version: string; privateKey: ReturnType<typeof createECDH>; authSecret: string }): Buffer;
};

const TWILIO_SID = 'AC0123456789abcdef0123456789abcdef';
const TWILIO_TOKEN = 'twilio-auth-token-for-tests';
const PUBLIC_URL = 'https://api.example.test/notify';
const WEBHOOK_SECRET = 'webhook-secret-for-tests-0123';

// The worker talks to local stand-ins that speak each provider's real HTTP API; the push service for
// Web Push is the subscription's endpoint itself.
describe('providers (HTTP stand-ins) and delivery webhooks', () => {
  let twilio: StandIn;
  let plivo: StandIn;
  let sns: StandIn;
  let fcm: StandIn;
  let onesignal: StandIn;
  let pushService: StandIn;
  let api: RunningProcess;
  let worker: RunningProcess;
  let events: Awaited<ReturnType<typeof collectEvents>>;
  let base: string;
  const vapid = webpush.generateVAPIDKeys();
  const serviceAccountKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const tls = selfSignedCertificate();

  beforeAll(async () => {
    let sid = 0;
    twilio = await startStandIn((req) => {
      sid += 1;
      const form = new URLSearchParams(req.body);
      return { status: 201, body: { sid: `SM${String(sid).padStart(32, '0')}`, status: 'queued', to: form.get('To') } };
    });
    plivo = await startStandIn(() => ({ status: 202, body: { api_id: 'api-1', message: 'message(s) queued', message_uuid: [`plivo-${++sid}`] } }));
    sns = await startStandIn(() => ({
      status: 200,
      headers: { 'content-type': 'text/xml' },
      body: `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>sns-${++sid}</MessageId></PublishResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></PublishResponse>`,
    }));
    fcm = await startStandIn((req) => {
      if (req.url === '/token') return { status: 200, body: { access_token: 'fcm-access-token', expires_in: 3600, token_type: 'Bearer' } };
      return { status: 200, body: { name: `projects/demo-project/messages/${++sid}` } };
    });
    onesignal = await startStandIn(() => ({ status: 200, body: { id: `os-${++sid}`, external_id: null } }));
    // Push services speak HTTPS only: this one has its own certificate, trusted through the CA setting.
    pushService = await startStandIn(() => ({ status: 201, body: '', headers: { location: `https://push.example/m/${++sid}` } }), {
      tls: { key: tls.key, cert: tls.cert },
    });

    const config = testConfig({
      NOTIFICATIONS_EMAIL_ENABLED: 'false',
      NOTIFICATIONS_SMS_PROVIDER: 'twilio,plivo,sns',
      NOTIFICATIONS_SMS_ACCOUNT_SID: TWILIO_SID,
      NOTIFICATIONS_SMS_AUTH_TOKEN: TWILIO_TOKEN,
      NOTIFICATIONS_SMS_FROM: '+15005550006',
      NOTIFICATIONS_TWILIO_BASE_URL: twilio.url,
      NOTIFICATIONS_PLIVO_AUTH_ID: 'MAPLIVOAUTHID',
      NOTIFICATIONS_PLIVO_AUTH_TOKEN: 'plivo-token',
      NOTIFICATIONS_PLIVO_BASE_URL: plivo.url,
      NOTIFICATIONS_SNS_ENDPOINT: sns.url,
      NOTIFICATIONS_SNS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      NOTIFICATIONS_SNS_SECRET_ACCESS_KEY: 'sns-secret',
      NOTIFICATIONS_PUSH_PROVIDER: 'webpush,fcm,onesignal',
      NOTIFICATIONS_VAPID_PUBLIC_KEY: vapid.publicKey,
      NOTIFICATIONS_VAPID_PRIVATE_KEY: vapid.privateKey,
      NOTIFICATIONS_VAPID_SUBJECT: 'mailto:ops@example.test',
      NOTIFICATIONS_WEBPUSH_CA_FILE: tls.caFile,
      NOTIFICATIONS_FCM_SERVICE_ACCOUNT: JSON.stringify({
        type: 'service_account',
        project_id: 'demo-project',
        client_email: 'notifier@demo-project.iam.gserviceaccount.com',
        private_key: serviceAccountKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        token_uri: `${fcm.url}/token`,
      }),
      NOTIFICATIONS_FCM_BASE_URL: fcm.url,
      NOTIFICATIONS_ONESIGNAL_APP_ID: 'onesignal-app',
      NOTIFICATIONS_ONESIGNAL_API_KEY: 'onesignal-key',
      NOTIFICATIONS_ONESIGNAL_BASE_URL: onesignal.url,
      NOTIFICATIONS_PUBLIC_URL: PUBLIC_URL,
      NOTIFICATIONS_WEBHOOK_SECRET: WEBHOOK_SECRET,
      NOTIFICATIONS_RETRY_BASE_MS: '100',
      NOTIFICATIONS_PROVIDER_ATTEMPTS: '2',
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
    for (const s of [twilio, plivo, sns, fcm, onesignal, pushService]) await s?.close();
  });

  async function setup(): Promise<string> {
    const account = uniqueName('acct');
    await request(base)
      .post('/v1/templates')
      .set(admin(account))
      .send({ name: 'alert', smsBody: 'Code {{code}} & more', pushTitle: 'Alert', pushBody: 'Code {{code}}', variables: [{ name: 'code' }] })
      .expect(201);
    return account;
  }

  async function sent(account: string, id: string) {
    return waitFor(async () => {
      const res = await request(base).get(`/v1/notifications/${id}`).set(admin(account));
      return ['sent', 'failed'].includes(res.body.status) ? res.body : null;
    }, { timeoutMs: 15_000, label: `notification ${id} settled` });
  }

  const send = (account: string, body: Record<string, unknown>) =>
    request(base).post('/v1/notifications').set(admin(account)).send({ template: 'alert', data: { code: '1234' }, ...body });

  it('sends SMS through Twilio’s Messages API and takes its signed status callback', async () => {
    const account = await setup();
    const res = await send(account, { userId: 'sam', channel: 'sms', to: { phone: '+14155550111' } });
    expect(res.status).toBe(202);
    const row = await sent(account, res.body.id);
    expect(row).toMatchObject({ status: 'sent', provider: 'twilio', recipient: '+14155550111' });
    const call = twilio.requests.find((r) => new URLSearchParams(r.body).get('To') === '+14155550111')!;
    expect(call.method).toBe('POST');
    expect(call.url).toBe(`/2010-04-01/Accounts/${TWILIO_SID}/Messages.json`);
    expect(call.headers.authorization).toBe(`Basic ${Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString('base64')}`);
    expect(call.headers['content-type']).toBe('application/x-www-form-urlencoded');
    const form = new URLSearchParams(call.body);
    expect(Object.fromEntries(form)).toEqual({
      To: '+14155550111',
      From: '+15005550006',
      Body: 'Code 1234 & more',
      StatusCallback: `${PUBLIC_URL}/v1/webhooks/twilio`,
    });

    // Twilio reports delivery, signed with the auth token over the public URL and the parameters.
    const params = new URLSearchParams({ MessageSid: row.providerMessageId, MessageStatus: 'delivered', AccountSid: TWILIO_SID, To: '+14155550111' });
    const forged = await request(base)
      .post('/v1/webhooks/twilio')
      .set('x-twilio-signature', twilioSignature('wrong-token', `${PUBLIC_URL}/v1/webhooks/twilio`, params))
      .type('form')
      .send(params.toString());
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('INVALID_SIGNATURE');
    const callback = await request(base)
      .post('/v1/webhooks/twilio')
      .set('x-twilio-signature', twilioSignature(TWILIO_TOKEN, `${PUBLIC_URL}/v1/webhooks/twilio`, params))
      .type('form')
      .send(params.toString());
    expect(callback.status).toBe(204);
    const after = await request(base).get(`/v1/notifications/${res.body.id}`).set(admin(account));
    expect(after.body).toMatchObject({ status: 'delivered' });
    expect(after.body.deliveredAt).not.toBeNull();
  });

  it('fails SMS over from Twilio to Plivo when Twilio keeps failing', async () => {
    const account = await setup();
    twilio.failNext(2, 503, { code: 20500, message: 'Service unavailable', status: 503 });
    const res = await send(account, { userId: 'pat', channel: 'sms', to: { phone: '+14155550122' } });
    const row = await sent(account, res.body.id);
    expect(row).toMatchObject({ status: 'sent', provider: 'plivo', attempts: 3 });
    const call = plivo.requests.find((r) => JSON.parse(r.body).dst === '14155550122')!;
    expect(call.url).toBe('/v1/Account/MAPLIVOAUTHID/Message/');
    expect(call.headers.authorization).toBe(`Basic ${Buffer.from('MAPLIVOAUTHID:plivo-token').toString('base64')}`);
    expect(JSON.parse(call.body)).toEqual({ src: '15005550006', dst: '14155550122', text: 'Code 1234 & more' });
    const detail = await request(base).get(`/v1/notifications/${res.body.id}`).set(admin(account));
    expect(detail.body.deliveryAttempts.map((a: { provider: string; status: string }) => `${a.provider}:${a.status}`)).toEqual([
      'twilio:failed',
      'twilio:failed',
      'plivo:sent',
    ]);
    expect(detail.body.deliveryAttempts[0].error).toMatch(/HTTP 503 Service unavailable/);

    // A delivery report through the generic HMAC-signed webhook: bounced.
    const body = JSON.stringify({ events: [{ providerMessageId: row.providerMessageId, provider: 'plivo', status: 'bounced', reason: 'carrier rejected' }] });
    const t = Math.floor(Date.now() / 1000);
    const stale = await request(base)
      .post('/v1/webhooks/delivery')
      .set('content-type', 'application/json')
      .set('x-nself-signature', `t=${t - 3600},v1=${signGeneric(WEBHOOK_SECRET, t - 3600, body)}`)
      .send(body);
    expect([stale.status, stale.body.code]).toEqual([401, 'SIGNATURE_EXPIRED']);
    const tampered = await request(base)
      .post('/v1/webhooks/delivery')
      .set('content-type', 'application/json')
      .set('x-nself-signature', `t=${t},v1=${signGeneric(WEBHOOK_SECRET, t, body)}`)
      .send(body.replace('bounced', 'delivered'));
    expect([tampered.status, tampered.body.code]).toEqual([401, 'INVALID_SIGNATURE']);
    const ok = await request(base)
      .post('/v1/webhooks/delivery')
      .set('content-type', 'application/json')
      .set('x-nself-signature', `t=${t},v1=${signGeneric(WEBHOOK_SECRET, t, body)}`)
      .send(body);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ updated: 1, ignored: 0 });
    const bounced = await request(base).get(`/v1/notifications/${res.body.id}`).set(admin(account));
    expect(bounced.body).toMatchObject({ status: 'bounced', lastError: 'carrier rejected' });
    await waitFor(
      () => events.events.find((e) => e.type === 'notification.failed' && (e.data as { notificationId: string }).notificationId === res.body.id),
      { label: 'notification.failed for the bounce' },
    );
  });

  it('sends SMS through Amazon SNS (AWS Query API, SigV4) when an app prefers it', async () => {
    const account = await setup();
    for (const name of ['twilio', 'plivo']) {
      await request(base).put(`/v1/providers/sms/${name}`).set(admin(account)).send({ enabled: false }).expect(200);
    }
    const res = await send(account, { userId: 'sue', channel: 'sms', to: { phone: '+14155550133' } });
    const row = await sent(account, res.body.id);
    expect(row).toMatchObject({ status: 'sent', provider: 'sns' });
    expect(row.providerMessageId).toMatch(/^sns-\d+$/);
    const call = sns.requests.find((r) => new URLSearchParams(r.body).get('PhoneNumber') === '+14155550133')!;
    const form = new URLSearchParams(call.body);
    expect(form.get('Action')).toBe('Publish');
    expect(form.get('Message')).toBe('Code 1234 & more');
    expect(call.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/sns\/aws4_request/);
  });

  it('sends Web Push with VAPID to the subscription’s push service, encrypted for the browser', async () => {
    const account = await setup();
    const browser = createECDH('prime256v1');
    browser.generateKeys();
    const auth = randomBytes(16).toString('base64url');
    const subscription = {
      endpoint: `${pushService.url}/push/${uniqueName('sub')}`,
      keys: { p256dh: browser.getPublicKey().toString('base64url'), auth },
    };
    await request(base)
      .put('/v1/users/wes/preferences')
      .set(admin(account))
      .send([{ channel: 'push', address: JSON.stringify(subscription) }])
      .expect(200);
    const res = await send(account, { userId: 'wes', channel: 'push' });
    const row = await sent(account, res.body.id);
    expect(row).toMatchObject({ status: 'sent', provider: 'webpush' });
    expect(row.providerMessageId).toMatch(/^https:\/\/push\.example\/m\//);
    const call = pushService.requests.find((r) => subscription.endpoint.endsWith(r.url))!;
    expect(call.headers['content-encoding']).toBe('aes128gcm');
    expect(call.headers.ttl).toBe('86400');
    const [, jwt, key] = /^vapid t=([^,]+), k=(.+)$/.exec(String(call.headers.authorization))!;
    expect(key).toBe(vapid.publicKey);
    expect(decodeProtectedHeader(jwt!).alg).toBe('ES256');
    const payload = ece.decrypt(call.raw, {
      version: 'aes128gcm',
      privateKey: browser,
      authSecret: auth,
    });
    expect(JSON.parse(payload.toString('utf8'))).toEqual({
      title: 'Alert',
      body: 'Code 1234',
      data: { notificationId: res.body.id, category: 'general' },
    });
  });

  it('sends FCM HTTP v1 messages with a service-account OAuth token, and OneSignal as the app’s choice', async () => {
    const account = await setup();
    const token = `fcm-token-${uniqueName('d')}`;
    await request(base).put('/v1/users/fay/preferences').set(admin(account)).send([{ channel: 'push', address: token }]).expect(200);
    const res = await send(account, { userId: 'fay', channel: 'push' });
    const row = await sent(account, res.body.id);
    expect(row).toMatchObject({ status: 'sent', provider: 'fcm' });
    expect(row.providerMessageId).toMatch(/^projects\/demo-project\/messages\//);
    const tokenCall = fcm.requests.find((r) => r.url === '/token')!;
    const tokenForm = new URLSearchParams(tokenCall.body);
    expect(tokenForm.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer');
    const publicKey = await importSPKI(serviceAccountKeys.publicKey.export({ type: 'spki', format: 'pem' }) as string, 'RS256');
    const { payload } = await jwtVerify(tokenForm.get('assertion')!, publicKey, { audience: `${fcm.url}/token` });
    expect(payload).toMatchObject({ iss: 'notifier@demo-project.iam.gserviceaccount.com', scope: 'https://www.googleapis.com/auth/firebase.messaging' });
    const sendCall = fcm.requests.find((r) => r.url === '/v1/projects/demo-project/messages:send' && JSON.parse(r.body).message.token === token)!;
    expect(sendCall.headers.authorization).toBe('Bearer fcm-access-token');
    expect(JSON.parse(sendCall.body)).toEqual({
      message: { token, notification: { title: 'Alert', body: 'Code 1234' }, data: { notificationId: res.body.id, category: 'general' } },
    });

    // Another app turned FCM off for itself: the same kind of address goes through OneSignal.
    const other = await setup();
    await request(base).put('/v1/providers/push/fcm').set(admin(other)).send({ enabled: false }).expect(200);
    await request(base).put('/v1/users/fay/preferences').set(admin(other)).send([{ channel: 'push', address: token }]).expect(200);
    const second = await send(other, { userId: 'fay', channel: 'push' });
    const viaOneSignal = await sent(other, second.body.id);
    expect(viaOneSignal).toMatchObject({ status: 'sent', provider: 'onesignal' });
    const call = onesignal.requests.find((r) => JSON.parse(r.body).idempotency_key === second.body.id)!;
    expect(call.url).toBe('/notifications?c=push');
    expect(call.headers.authorization).toBe('Key onesignal-key');
    expect(JSON.parse(call.body)).toMatchObject({
      app_id: 'onesignal-app',
      target_channel: 'push',
      include_aliases: { external_id: [token] },
      headings: { en: 'Alert' },
      contents: { en: 'Code 1234' },
    });
  });
});

