import { bearer, describeServiceContract, TEST_ADMIN_SECRET, testInfra, uniqueName, waitFor } from '@nself/test-support';
import type { DomainEvent } from '@nself/events';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../src/crypto.js';
import { tokenAad } from '../src/use-cases/complete-verification.js';
import { TestBrowser } from './support/browser.js';
import { newUser, RETURN_URL, startFlow, startHarness, tokenFor, verifyThroughBrowser, type FlowUser, type Harness } from './support/harness.js';

describe('verification status, groups and revocation over the API', () => {
  let h: Harness;
  let owner: FlowUser;
  const received: DomainEvent[] = [];

  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, tokenKey: true });
    await h.events.subscribe({ queue: uniqueName('idme-api-test'), bindings: ['idme.revoked'], handler: async (e) => void received.push(e) });
    owner = newUser();
    const { callback } = await verifyThroughBrowser(h, owner, 'veteran');
    expect(callback.location).toBe(`${RETURN_URL}?idme=verified`);
  });
  afterAll(() => h?.close());

  describeServiceContract('idme', () => ({ app: h.app, protectedRoute: { method: 'get', path: '/v1/verifications/someone' } }));

  it("refuses another user reading, listing groups of or revoking someone's verification", async () => {
    const intruder = bearer({ sub: uniqueName('intruder'), sourceAccountId: owner.account });
    for (const [method, path] of [
      ['get', `/v1/verifications/${owner.userId}`],
      ['get', `/v1/verifications/${owner.userId}/groups`],
      ['delete', `/v1/verifications/${owner.userId}`],
    ] as const) {
      const res = await request(h.app)[method](path).set(intruder);
      expect(res.status).toBe(403);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('FORBIDDEN');
      expect(JSON.stringify(res.body)).not.toMatch(/Army|Veteran|military/);
    }
    // Nothing was revoked by the refused DELETE.
    const own = await request(h.app).get(`/v1/verifications/${owner.userId}`).set('authorization', `Bearer ${tokenFor(owner)}`);
    expect(own.body.status).toBe('verified');
  });

  it('lets an admin of the same app read it, but not an admin of another app', async () => {
    const admin = await request(h.app)
      .get(`/v1/verifications/${owner.userId}`)
      .set(bearer({ sub: 'admin-1', roles: ['admin'], sourceAccountId: owner.account }));
    expect(admin.status).toBe(200);
    expect(admin.body.userId).toBe(owner.userId);

    const viaSecret = await request(h.app)
      .get(`/v1/verifications/${owner.userId}/groups`)
      .set({ 'x-admin-secret': TEST_ADMIN_SECRET, 'x-source-account-id': owner.account });
    expect(viaSecret.status).toBe(200);
    expect(viaSecret.body.groups.map((g: { group: string }) => g.group)).toEqual(['military', 'veteran']);

    const otherApp = await request(h.app)
      .get(`/v1/verifications/${owner.userId}`)
      .set(bearer({ sub: 'admin-2', roles: ['admin'], sourceAccountId: `${owner.account}-other` }));
    expect(otherApp.status).toBe(404);
    expect(otherApp.body.code).toBe('VERIFICATION_NOT_FOUND');
  });

  it('answers 404 for a user who never verified', async () => {
    const nobody = newUser();
    const res = await request(h.app).get(`/v1/verifications/${nobody.userId}`).set('authorization', `Bearer ${tokenFor(nobody)}`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('VERIFICATION_NOT_FOUND');
  });

  it('returns the authorization URL as JSON for single-page apps, with the binding cookie', async () => {
    const user = newUser();
    const res = await request(h.app).get('/v1/auth/start?mode=json').set('authorization', `Bearer ${tokenFor(user)}`);
    expect(res.status).toBe(200);
    expect(res.body.authorizationUrl).toMatch(new RegExp(`^${h.fake.issuer}/auth\\?`));
    expect(res.body.expiresIn).toBe(600);
    expect(res.headers['set-cookie']?.[0]).toMatch(/^idme_flow=[A-Za-z0-9_-]{43}; Max-Age=600; Path=\/; Expires=.+; HttpOnly; SameSite=Lax$/);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('needs a user to start: the admin secret alone is refused', async () => {
    const res = await request(h.app).get('/v1/auth/start').set('x-admin-secret', TEST_ADMIN_SECRET);
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('USER_REQUIRED');
  });

  it('revokes: groups, badges, attributes and stored tokens go, the token is revoked at ID.me, idme.revoked is published', async () => {
    const user = newUser();
    await verifyThroughBrowser(h, user, 'student');
    const row = await h.deps.prisma.idmeVerification.findFirstOrThrow({ where: { userId: user.userId, sourceAccountId: user.account } });
    const accessToken = h.deps.tokenBox!.decrypt(row.accessTokenEnc, tokenAad(user.account, user.userId, 'access'));
    expect(accessToken).toBeTruthy();
    const attributesWith = (token: string) => fetch(h.fake.attributesUrl, { headers: { authorization: `Bearer ${token}` } });
    expect((await attributesWith(accessToken!)).status).toBe(200);

    const res = await request(h.app).delete(`/v1/verifications/${user.userId}`).set('authorization', `Bearer ${tokenFor(user)}`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ userId: user.userId, status: 'revoked', revokedAtIdme: true });
    expect((await attributesWith(accessToken!)).status).toBe(401);

    const view = await request(h.app).get(`/v1/verifications/${user.userId}`).set('authorization', `Bearer ${tokenFor(user)}`);
    expect(view.body).toMatchObject({ status: 'revoked', groups: [], badges: [], attributes: [] });
    expect(view.body.revokedAt).not.toBeNull();
    const after = await h.deps.prisma.idmeVerification.findUniqueOrThrow({ where: { id: row.id } });
    expect(after).toMatchObject({ accessTokenEnc: null, refreshTokenEnc: null, tokenExpiresAt: null });
    const event = await waitFor(() => received.find((e) => e.userId === user.userId), { timeoutMs: 10_000, label: 'idme.revoked' });
    expect(event).toMatchObject({ type: 'idme.revoked', sourceAccountId: user.account, data: { verificationId: row.id } });

    // Verifying again brings the groups back.
    const again = await verifyThroughBrowser(h, user, 'student');
    expect(again.callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const reverified = await request(h.app).get(`/v1/verifications/${user.userId}`).set('authorization', `Bearer ${tokenFor(user)}`);
    expect(reverified.body).toMatchObject({ status: 'verified', revokedAt: null, groups: [expect.objectContaining({ group: 'student', active: true })] });
  });
});

describe('without IDME_TOKEN_ENCRYPTION_KEY and with Secure cookies', () => {
  let h: Harness;
  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl });
  });
  afterAll(() => h?.close());

  it('stores no tokens at all', async () => {
    const user = newUser();
    expect((await verifyThroughBrowser(h, user, 'veteran')).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const row = await h.deps.prisma.idmeVerification.findFirstOrThrow({ where: { userId: user.userId, sourceAccountId: user.account } });
    expect(row).toMatchObject({ status: 'verified', accessTokenEnc: null, refreshTokenEnc: null, tokenExpiresAt: null });
  });

  it('keeps the PKCE verifier sealed and the browser binding hashed in the state table', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    await startFlow(h, browser, user);
    const state = await h.deps.prisma.idmeOauthState.findFirstOrThrow({ where: { userId: user.userId } });
    expect(state.codeVerifierEnc).toMatch(/^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const cookie = (await browser.jar.getCookies(h.baseUrl)).find((c) => c.key === 'idme_flow')!.value;
    // Bound to the browser by a hash of its cookie; the cookie value itself is not stored.
    expect(state.browserHash).toBe(sha256(cookie));
    expect(JSON.stringify(state)).not.toContain(cookie);
  });

  it('answers 404 WEBHOOKS_DISABLED when no webhook secret is configured', async () => {
    const res = await request(h.app).post('/v1/webhooks').set('content-type', 'application/json').send('{}');
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('WEBHOOKS_DISABLED');
  });
});

describe('with IDME_COOKIE_SECURE=true', () => {
  let h: Harness;
  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, env: { IDME_COOKIE_SECURE: 'true' } });
  });
  afterAll(() => h?.close());

  it('sets a __Host- prefixed Secure, httpOnly, SameSite=Lax cookie', async () => {
    const user = newUser();
    const res = await request(h.app).get('/v1/auth/start').set('authorization', `Bearer ${tokenFor(user)}`);
    expect(res.status).toBe(302);
    const cookie = res.headers['set-cookie']?.[0] ?? '';
    expect(cookie).toMatch(/^__Host-idme_flow=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/; Path=\/;/);
    expect(cookie).toMatch(/; HttpOnly; Secure; SameSite=Lax$/);
  });
});
