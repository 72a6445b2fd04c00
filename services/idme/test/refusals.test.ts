import { testInfra } from '@nself/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../src/crypto.js';
import { TestBrowser, type Hop } from './support/browser.js';
import {
  CLIENT_ID,
  CLIENT_SECRET,
  newUser,
  persistedRows,
  reachCallback,
  RETURN_URL,
  startFlow,
  startHarness,
  verifyThroughBrowser,
  type FlowUser,
  type Harness,
} from './support/harness.js';

const NOTHING = { verifications: 0, groups: 0, badges: 0, attributes: 0 };

function expectRefused(hop: Hop, status: number, code: string): Record<string, unknown> {
  expect(hop.status, hop.text).toBe(status);
  expect(hop.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(hop.text) as Record<string, unknown>;
  expect(body.code).toBe(code);
  expect(body.status).toBe(status);
  expect(hop.location).toBeNull();
  return body;
}

describe('the callback refuses tampered, replayed and forged responses, persisting nothing', () => {
  let h: Harness;

  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, tokenKey: true });
    h.fake.addAccount('nursePair', { attributes: [], status: [{ group: 'nurse', subgroups: ['RN'], verified: true }] });
  });
  afterAll(() => h?.close());

  const stateOf = (callbackUrl: string) => new URL(callbackUrl).searchParams.get('state')!;

  it('refuses a replayed state (the same authorization response twice) and changes nothing', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, user, 'veteran');
    expect((await browser.get(callbackUrl)).location).toBe(`${RETURN_URL}?idme=verified`);
    const before = await h.deps.prisma.idmeVerification.findFirstOrThrow({ where: { userId: user.userId } });
    const rowsBefore = await persistedRows(h, user);

    const replay = await browser.get(callbackUrl);
    expectRefused(replay, 400, 'STATE_REPLAYED');
    const after = await h.deps.prisma.idmeVerification.findFirstOrThrow({ where: { userId: user.userId } });
    expect(after.updatedAt).toEqual(before.updatedAt);
    expect(await persistedRows(h, user)).toEqual(rowsBefore);
  });

  it('refuses a state that belongs to another browser (and a callback without the cookie), leaving it usable by its own browser', async () => {
    const user = newUser();
    const victim = new TestBrowser();
    const callbackUrl = await reachCallback(h, victim, user, 'veteran');

    // Another browser with its own binding cookie (it started a flow of its own).
    const attacker = new TestBrowser();
    await startFlow(h, attacker, newUser());
    expectRefused(await attacker.get(callbackUrl), 400, 'STATE_MISMATCH');
    // A browser with no cookie at all.
    expectRefused(await new TestBrowser().get(callbackUrl), 400, 'STATE_COOKIE_MISSING');
    expect(await persistedRows(h, user)).toEqual(NOTHING);

    // The refusals did not burn the state: the right browser still completes.
    expect((await victim.get(callbackUrl)).location).toBe(`${RETURN_URL}?idme=verified`);
  });

  it('refuses an unknown, a missing and an expired state', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, user, 'student');

    const forged = new URL(callbackUrl);
    forged.searchParams.set('state', 'x'.repeat(43));
    expectRefused(await browser.get(forged.href), 400, 'STATE_UNKNOWN');

    const missing = new URL(callbackUrl);
    missing.searchParams.delete('state');
    expectRefused(await browser.get(missing.href), 400, 'STATE_MISSING');

    await h.deps.prisma.idmeOauthState.update({
      where: { stateHash: sha256(stateOf(callbackUrl)) },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expectRefused(await browser.get(callbackUrl), 400, 'STATE_EXPIRED');
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  it('refuses a callback whose PKCE verifier is missing, without sending the code to ID.me', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, user, 'veteran');
    await h.deps.prisma.idmeOauthState.update({ where: { stateHash: sha256(stateOf(callbackUrl)) }, data: { codeVerifierEnc: '' } });
    const tokenRequests = h.fake.tokenRequests;

    const body = expectRefused(await browser.get(callbackUrl), 400, 'PKCE_VERIFIER_MISSING');
    expect(body.detail).toMatch(/PKCE code verifier/);
    expect(h.fake.tokenRequests).toBe(tokenRequests);
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  it('the provider (like ID.me) will not redeem a code without its PKCE verifier', async () => {
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, newUser(), 'student');
    const code = new URL(callbackUrl).searchParams.get('code')!;
    const res = await fetch(`${h.fake.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: h.redirectUri, client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'invalid_grant' });
  });

  it('refuses an id_token whose nonce is not the one this service sent', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    // The nonce is swapped on the way to the provider, so the provider signs a (genuine) id_token with it.
    const callbackUrl = await reachCallback(h, browser, user, 'veteran', (url) => url.searchParams.set('nonce', 'attacker-chosen-nonce'));
    const body = expectRefused(await browser.get(callbackUrl), 400, 'NONCE_MISMATCH');
    expect(body.detail).toMatch(/nonce/);
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  for (const [mode, label] of [
    ['foreign-key-same-kid', "the provider's key id"],
    ['foreign-key-unknown-kid', 'an unpublished key id'],
  ] as const) {
    it(`refuses an id_token signed by another key (${label})`, async () => {
      const user = newUser();
      const browser = new TestBrowser();
      const callbackUrl = await reachCallback(h, browser, user, 'veteran');
      h.fake.tamper.idToken = mode;
      try {
        expectRefused(await browser.get(callbackUrl), 400, 'ID_TOKEN_SIGNATURE_INVALID');
      } finally {
        h.fake.tamper.idToken = undefined;
      }
      expect(await persistedRows(h, user)).toEqual(NOTHING);
    });
  }

  it('refuses an expired authorization code with the provider reason', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, user, 'veteran');
    expect(h.fake.expireAuthorizationCodes()).toBeGreaterThan(0);
    const body = expectRefused(await browser.get(callbackUrl), 400, 'AUTHORIZATION_CODE_REJECTED');
    expect(body.detail).toMatch(/expired/);
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  it('refuses open-redirect return URLs at start, storing no state and setting no cookie', async () => {
    const user: FlowUser = newUser();
    const hostile = [
      'https://evil.example/after-idme',
      '//evil.example/after-idme',
      '/after-idme',
      'https://app.example.test.evil.example/after-idme',
      'https://app.example.test@evil.example/after-idme',
      'https://user:pass@app.example.test/after-idme',
      'http://app.example.test/after-idme',
      'https://app.example.test/after-idme-elsewhere',
      'https://app.example.test/after-idme/../admin',
      'https://app.example.test\\@evil.example/after-idme',
      'javascript:alert(document.cookie)//https://app.example.test/after-idme',
      'data:text/html,<script>alert(1)</script>',
    ];
    for (const returnTo of hostile) {
      const browser = new TestBrowser();
      const hop = await startFlow(h, browser, user, returnTo);
      expectRefused(hop, 400, 'RETURN_URL_NOT_ALLOWED');
      expect(hop.headers.getSetCookie()).toEqual([]);
    }
    expect(await h.deps.prisma.idmeOauthState.count({ where: { userId: user.userId } })).toBe(0);
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  it('sends the user back with idme=denied when they cancel at ID.me, persisting nothing', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const start = await startFlow(h, browser, user);
    const state = new URL(start.location!).searchParams.get('state')!;
    const denied = await browser.get(`${h.redirectUri}?error=access_denied&state=${state}`);
    expect(denied.status).toBe(302);
    expect(denied.location).toBe(`${RETURN_URL}?idme=denied`);
    expect(await persistedRows(h, user)).toEqual(NOTHING);
  });

  it('refuses linking one ID.me identity to a second user of the same app', async () => {
    const first = newUser();
    expect((await verifyThroughBrowser(h, first, 'nursePair')).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const second: FlowUser = { userId: `${first.userId}-other`, account: first.account };
    const browser = new TestBrowser();
    const callbackUrl = await reachCallback(h, browser, second, 'nursePair');
    expectRefused(await browser.get(callbackUrl), 409, 'IDME_IDENTITY_IN_USE');
    expect(await persistedRows(h, second)).toEqual(NOTHING);

    // Another app may use the same identity for its own user.
    const elsewhere: FlowUser = { userId: first.userId, account: `${first.account}-b` };
    expect((await verifyThroughBrowser(h, elsewhere, 'nursePair')).callback.location).toBe(`${RETURN_URL}?idme=verified`);
  });

  it('cannot be started without a user token', async () => {
    const hop = await new TestBrowser().get(`${h.baseUrl}/v1/auth/start`);
    expectRefused(hop, 401, 'UNAUTHORIZED');
  });
});
