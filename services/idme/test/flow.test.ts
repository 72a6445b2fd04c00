import { testInfra, uniqueName, waitFor } from '@nself/test-support';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '@nself/events';
import type { getGroups, VerificationView } from '../src/use-cases/read-verification.js';
import { signInAtProvider, TestBrowser } from './support/browser.js';
import { ACCOUNTS } from './support/fake-idme.js';

type GroupsView = Awaited<ReturnType<typeof getGroups>>;
import {
  newUser,
  persistedRows,
  RETURN_URL,
  startFlow,
  startHarness,
  tokenFor,
  verifyThroughBrowser,
  type Harness,
} from './support/harness.js';

describe('ID.me verification flow against a real OpenID Provider on loopback', () => {
  let h: Harness;
  const received: DomainEvent[] = [];

  beforeAll(async () => {
    const infra = testInfra();
    h = await startHarness({ databaseUrl: infra.databaseUrl, amqpUrl: infra.amqpUrl, tokenKey: true, memoryLogger: true });
    await h.events.subscribe({
      queue: uniqueName('idme-flow-test'),
      bindings: ['idme.*'],
      handler: async (event) => {
        received.push(event);
      },
    });
  });
  afterAll(() => h?.close());

  it('verifies a military veteran: groups, badges, veteran attributes, encrypted tokens and an idme.verified event', async () => {
    const user = newUser();
    const { callback } = await verifyThroughBrowser(h, user, 'veteran');

    // Back to the app with a status flag only: no personal data in the URL or the body.
    expect(callback.status).toBe(302);
    expect(callback.location).toBe(`${RETURN_URL}?idme=verified`);
    expect(callback.headers.get('referrer-policy')).toBe('no-referrer');
    expect(callback.text).not.toMatch(/Riley|Stone|vet@example|Army/);

    const res = await fetch(`${h.baseUrl}/v1/verifications/${user.userId}`, { headers: { authorization: `Bearer ${tokenFor(user)}` } });
    expect(res.status).toBe(200);
    const view = (await res.json()) as VerificationView;
    expect(view.status).toBe('verified');
    expect(view.groups.map((g) => g.group)).toEqual(['military', 'veteran']);
    expect(view.groups.every((g) => g.active)).toBe(true);
    expect(view.groups.find((g) => g.group === 'veteran')?.subgroups).toEqual(['Veteran']);
    expect(view.badges.map((b) => b.name)).toEqual(['Military', 'Veteran']);
    expect(view.badges[0]).toMatchObject({ group: 'military', icon: 'shield-star', color: '#1F3A93', order: 10 });
    expect(view.badges[0].expiresAt).not.toBeNull(); // military badge expires after 365 days
    expect(view.badges[1].expiresAt).toBeNull(); // veteran badge does not expire
    const attributes = Object.fromEntries(view.attributes.map((a) => [a.handle, a.value]));
    expect(attributes).toMatchObject({ branch: 'Army', service_era: 'Post-9/11', affiliation: 'Veteran', military_branch: 'Army' });
    // Identity attributes are not kept by default.
    expect(attributes.fname).toBeUndefined();
    expect(attributes.email).toBeUndefined();

    const row = await h.deps.prisma.idmeVerification.findUniqueOrThrow({
      where: { sourceAccountId_userId: { sourceAccountId: user.account, userId: user.userId } },
    });
    expect(row.idmeSubject).toBe('veteran');
    expect(row.accessTokenEnc).toMatch(/^v1\./);
    expect(row.tokenExpiresAt).not.toBeNull();

    // Group status came from the attributes endpoint; userinfo was never asked.
    expect(h.fake.userinfoRequests).toBe(0);

    const event = await waitFor(() => received.find((e) => e.userId === user.userId && e.type === 'idme.verified'), {
      timeoutMs: 10_000,
      label: 'idme.verified event',
    });
    expect(event).toMatchObject({ source: 'idme', sourceAccountId: user.account, data: { verificationId: row.id, groups: ['military', 'veteran'] } });
  });

  it('verifies a student with the student group and badge', async () => {
    const user = newUser();
    const { callback } = await verifyThroughBrowser(h, user, 'student');
    expect(callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const res = await fetch(`${h.baseUrl}/v1/verifications/${user.userId}/groups`, { headers: { authorization: `Bearer ${tokenFor(user)}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as GroupsView;
    expect(body.groups).toHaveLength(1);
    expect(body.groups[0]).toMatchObject({ group: 'student', subgroups: ['University'], verified: true, active: true });
    expect(body.groups[0].badge).toMatchObject({ name: 'Student', icon: 'graduation-cap', color: '#2980B9', order: 70 });
    expect(await persistedRows(h, user)).toEqual({ verifications: 1, groups: 1, badges: 1, attributes: 1 });
  });

  it('maps all seven groups plus low income, each with its badge', async () => {
    const user = newUser();
    const { callback } = await verifyThroughBrowser(h, user, 'everyGroup');
    expect(callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const res = await fetch(`${h.baseUrl}/v1/verifications/${user.userId}/groups`, { headers: { authorization: `Bearer ${tokenFor(user)}` } });
    const body = (await res.json()) as GroupsView;
    expect(body.groups.map((g) => g.group).sort()).toEqual(
      ['first_responder', 'government', 'low_income', 'military', 'nurse', 'student', 'teacher', 'veteran'],
    );
    expect(body.groups.every((g) => g.badge && g.active)).toBe(true);
  });

  it('records a user whose group is not verified as unverified, without badges and without an event', async () => {
    const user = newUser();
    const { callback } = await verifyThroughBrowser(h, user, 'unverifiedTeacher');
    expect(callback.location).toBe(`${RETURN_URL}?idme=unverified`);
    const res = await fetch(`${h.baseUrl}/v1/verifications/${user.userId}`, { headers: { authorization: `Bearer ${tokenFor(user)}` } });
    const view = (await res.json()) as VerificationView;
    expect(view.status).toBe('unverified');
    expect(view.groups).toEqual([expect.objectContaining({ group: 'teacher', verified: false, active: false })]);
    expect(view.badges).toEqual([]);
  });

  it('replaces groups, badges and attributes when the same user verifies again', async () => {
    const user = newUser();
    const subject = uniqueName('idme-sub');
    h.fake.addAccount(subject, ACCOUNTS.veteran);
    expect((await verifyThroughBrowser(h, user, subject)).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    h.fake.addAccount(subject, ACCOUNTS.student);
    expect((await verifyThroughBrowser(h, user, subject)).callback.location).toBe(`${RETURN_URL}?idme=verified`);
    const res = await fetch(`${h.baseUrl}/v1/verifications/${user.userId}`, { headers: { authorization: `Bearer ${tokenFor(user)}` } });
    const view = (await res.json()) as VerificationView;
    expect(view.groups.map((g) => g.group)).toEqual(['student']);
    expect(view.badges.map((b) => b.name)).toEqual(['Student']);
    expect(view.attributes.map((a) => a.handle)).toEqual(['student_level']);
    expect(await persistedRows(h, user)).toEqual({ verifications: 1, groups: 1, badges: 1, attributes: 1 });
  });

  it('sends the browser to an allow-listed return URL given at start, and sets a httpOnly SameSite=Lax cookie', async () => {
    const user = newUser();
    const browser = new TestBrowser();
    const start = await startFlow(h, browser, user, 'https://app.example.test/settings/verification?tab=idme');
    expect(start.status).toBe(302);
    const setCookie = start.headers.getSetCookie().find((c) => c.startsWith('idme_flow='));
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    const authorizationUrl = new URL(start.location!);
    expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(`${h.fake.issuer}/auth`);
    expect(authorizationUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authorizationUrl.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(authorizationUrl.searchParams.get('nonce')).toBeTruthy();
    expect(authorizationUrl.searchParams.get('state')).toBeTruthy();
    expect(authorizationUrl.searchParams.get('scope')).toContain('military');
    const callbackUrl = await signInAtProvider(browser, authorizationUrl.href, 'student', h.redirectUri);
    const callback = await browser.get(callbackUrl);
    expect(callback.status).toBe(302);
    expect(callback.location).toBe('https://app.example.test/settings/verification?tab=idme&idme=verified');
  });

  it('(the provider does count userinfo calls, so the zero above means something)', async () => {
    const before = h.fake.userinfoRequests;
    expect((await fetch(`${h.fake.issuer}/me`)).status).toBe(401);
    expect(h.fake.userinfoRequests).toBe(before + 1);
  });
});
