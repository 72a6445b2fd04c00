/**
 * A real OpenID Provider (the certified `oidc-provider` library) on loopback, configured to look like
 * ID.me: issuer <base>/oidc, confidential clients with PKCE (S256) required and client_secret_post,
 * RS256 id_tokens from a published JWKS, ID.me's group scopes, and ID.me's attributes endpoint
 * (/api/public/v3/attributes.json → {attributes:[{handle,name,value}], status:[{group,subgroups,verified}]})
 * on the same server. Logins are completed by posting the provider's login form for a test account.
 *
 * Test controls: register accounts, expire issued authorization codes, and make the token endpoint hand
 * out an id_token signed by a key that is not the provider's (a forged token).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CompactSign, exportJWK, generateKeyPair, type JWK } from 'jose';
import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';

export interface FakeIdmeAttribute {
  handle: string;
  name: string;
  value: string | null;
}

export interface FakeIdmeStatus {
  group: string;
  subgroups: string[];
  verified: boolean;
}

export interface FakeIdmeAccount {
  email?: string;
  attributes: FakeIdmeAttribute[];
  status: FakeIdmeStatus[];
}

export interface FakeIdmeClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export type IdTokenTamper = 'foreign-key-same-kid' | 'foreign-key-unknown-kid';

export interface FakeIdme {
  baseUrl: string;
  issuer: string;
  attributesUrl: string;
  addAccount(accountId: string, account: FakeIdmeAccount): void;
  /** Replaces the id_token of the next token responses with one signed by a foreign key. */
  tamper: { idToken?: IdTokenTamper };
  /** Moves every issued, unused authorization code past its expiry; returns how many. */
  expireAuthorizationCodes(): number;
  /** Token endpoint requests seen so far. */
  readonly tokenRequests: number;
  /** Userinfo requests seen so far (ID.me's userinfo has no group status; the client should not need it). */
  readonly userinfoRequests: number;
  close(): Promise<void>;
}

/** ID.me's group scopes, plus the OIDC ones. */
export const IDME_SCOPES = ['openid', 'email', 'profile', 'military', 'responder', 'government', 'teacher', 'student', 'nurse', 'low_income'];

/** Adapter storage per provider instance (oidc-provider's own memory adapter is a global LRU of 1000). */
function createStorage() {
  const store = new Map<string, { payload: AdapterPayload; expiresAt: number | null }>();
  const key = (model: string, id: string) => `${model}:${id}`;
  const live = (k: string) => {
    const entry = store.get(k);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt < Date.now()) {
      store.delete(k);
      return undefined;
    }
    return entry.payload;
  };
  class MapAdapter implements Adapter {
    constructor(private readonly model: string) {}
    async upsert(id: string, payload: AdapterPayload, expiresIn?: number) {
      store.set(key(this.model, id), { payload, expiresAt: expiresIn ? Date.now() + (expiresIn + 60) * 1000 : null });
    }
    async find(id: string) {
      return live(key(this.model, id));
    }
    async findByUserCode(userCode: string) {
      for (const [k] of store) {
        const payload = k.startsWith(`${this.model}:`) ? live(k) : undefined;
        if (payload?.userCode === userCode) return payload;
      }
      return undefined;
    }
    async findByUid(uid: string) {
      for (const [k] of store) {
        const payload = k.startsWith(`${this.model}:`) ? live(k) : undefined;
        if (payload?.uid === uid) return payload;
      }
      return undefined;
    }
    async consume(id: string) {
      const payload = live(key(this.model, id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      store.delete(key(this.model, id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [k, entry] of store) if (entry.payload.grantId === grantId) store.delete(k);
    }
  }
  return { store, MapAdapter };
}

function loginPage(uid: string, error?: string): string {
  return `<!doctype html><title>ID.me (test)</title>${error ? `<p role="alert">${error}</p>` : ''}
<form method="post" action="/interaction/${uid}/login"><input name="account"><button>Sign in</button></form>`;
}

export async function startFakeIdme(options: {
  clients: FakeIdmeClient[];
  scopes?: string[];
  /** Authorization code lifetime (ID.me-like 60 s by default). */
  codeTtlSeconds?: number;
  /** 0 (any free port) unless a fixed one is wanted (the native runner's ID.me stand-in). */
  port?: number;
}): Promise<FakeIdme> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const baseUrl = `http://127.0.0.1:${port}`;
  const issuer = `${baseUrl}/oidc`;

  const signing = await generateKeyPair('RS256', { extractable: true });
  const signingJwk: JWK = { ...(await exportJWK(signing.privateKey)), kid: 'idme-test-1', alg: 'RS256', use: 'sig' };
  const foreign = await generateKeyPair('RS256');
  const accounts = new Map<string, FakeIdmeAccount>();
  const { store, MapAdapter } = createStorage();
  let tokenRequests = 0;
  let userinfoRequests = 0;
  const tamper: FakeIdme['tamper'] = {};

  const provider = new Provider(issuer, {
    adapter: MapAdapter,
    clients: options.clients.map((c) => ({
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
    })),
    clientAuthMethods: ['client_secret_post', 'client_secret_basic'],
    responseTypes: ['code'],
    pkce: { required: () => true },
    jwks: { keys: [signingJwk] },
    cookies: { keys: ['fake-idme-cookie-key-0123456789abcdef'] },
    scopes: options.scopes ?? IDME_SCOPES,
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
    },
    ttl: { AuthorizationCode: options.codeTtlSeconds ?? 60, AccessToken: 300, IdToken: 300, Interaction: 600, Session: 600, Grant: 600 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    findAccount: (_ctx, accountId) => {
      const account = accounts.get(accountId);
      if (!account) return undefined;
      return {
        accountId,
        claims: () => ({ sub: accountId, email: account.email, email_verified: Boolean(account.email) }),
      };
    },
    renderError: (ctx, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  const app = express();
  app.disable('x-powered-by');

  app.get('/interaction/:uid', async (req, res, next) => {
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.prompt.name === 'login') {
        res.type('html').send(loginPage(details.uid));
        return;
      }
      // Consent is given for whatever the client asked for.
      const accountId = details.session?.accountId;
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      await provider.interactionFinished(req, res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    } catch (error) {
      next(error);
    }
  });

  app.post('/interaction/:uid/login', express.urlencoded({ extended: false }), async (req, res, next) => {
    try {
      const details = await provider.interactionDetails(req, res);
      const accountId = String((req.body as { account?: string }).account ?? '');
      if (!accounts.has(accountId)) {
        res.status(200).type('html').send(loginPage(details.uid, 'Unknown account'));
        return;
      }
      const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
      grant.addOIDCScope(String(details.params.scope));
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId }, consent: { grantId: await grant.save() } },
        { mergeWithLastSubmission: false },
      );
    } catch (error) {
      next(error);
    }
  });

  // ID.me's attributes endpoint: group status and attributes for the access token's user.
  app.get('/api/public/v3/attributes.json', async (req, res) => {
    const header = req.headers.authorization;
    const value = header?.startsWith('Bearer ') ? header.slice(7) : typeof req.query.access_token === 'string' ? req.query.access_token : undefined;
    const token = value ? await provider.AccessToken.find(value) : undefined;
    const account = token?.accountId ? accounts.get(token.accountId) : undefined;
    if (!token || !account) {
      res.status(401).json({ error: 'invalid_token', error_description: 'The access token is invalid or expired' });
      return;
    }
    res.json({ attributes: account.attributes, status: account.status });
  });

  // Forged id_tokens: same claims, signed by a key the provider never published.
  app.post('/oidc/token', (_req, res, next) => {
    tokenRequests += 1;
    const mode = tamper.idToken;
    if (!mode) {
      next();
      return;
    }
    const end = res.end.bind(res) as (chunk?: unknown) => typeof res;
    let pending = false;
    (res as unknown as { end: (chunk?: unknown) => unknown }).end = (chunk?: unknown) => {
      if (pending) return res;
      const body = chunk === undefined ? '' : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
      let json: { id_token?: string } | undefined;
      try {
        json = JSON.parse(body) as { id_token?: string };
      } catch {
        json = undefined;
      }
      if (!json?.id_token) return end(chunk);
      pending = true;
      const payload = Buffer.from(json.id_token.split('.')[1] ?? '', 'base64url');
      const kid = mode === 'foreign-key-same-kid' ? signingJwk.kid : 'not-published';
      void new CompactSign(payload)
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .sign(foreign.privateKey)
        .then((forged) => {
          const replaced = JSON.stringify({ ...json, id_token: forged });
          res.setHeader('content-length', Buffer.byteLength(replaced));
          end(replaced);
        });
      return res;
    };
    next();
  });

  app.use('/oidc/me', (_req, _res, next) => {
    userinfoRequests += 1;
    next();
  });
  app.use('/oidc', provider.callback());
  server.on('request', app);

  return {
    baseUrl,
    issuer,
    attributesUrl: `${baseUrl}/api/public/v3/attributes.json`,
    addAccount: (accountId, account) => accounts.set(accountId, account),
    tamper,
    expireAuthorizationCodes() {
      let count = 0;
      for (const [k, entry] of store) {
        if (k.startsWith('AuthorizationCode:') && !entry.payload.consumed) {
          entry.payload.exp = Math.floor(Date.now() / 1000) - 120;
          count += 1;
        }
      }
      return count;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    get userinfoRequests() {
      return userinfoRequests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** ID.me-shaped test users. */
export const ACCOUNTS = {
  veteran: {
    email: 'vet@example.test',
    attributes: [
      { handle: 'fname', name: 'First Name', value: 'Riley' },
      { handle: 'lname', name: 'Last Name', value: 'Stone' },
      { handle: 'email', name: 'Email', value: 'vet@example.test' },
      { handle: 'uuid', name: 'Unique Identifier', value: 'd733a89e2e634f04ac2fe66c97f71612' },
      { handle: 'zip', name: 'Zip Code', value: '20001' },
      { handle: 'military_branch', name: 'Military Branch', value: 'Army' },
      { handle: 'military_service_component', name: 'Military Service Component', value: 'active' },
      { handle: 'military_service_started', name: 'Military Service Started', value: '2003-01-15' },
      { handle: 'military_service_ended', name: 'Military Service Ended', value: '2011-06-30' },
    ],
    status: [{ group: 'military', subgroups: ['Veteran'], verified: true }],
  },
  student: {
    email: 'student@example.test',
    attributes: [
      { handle: 'fname', name: 'First Name', value: 'Sam' },
      { handle: 'email', name: 'Email', value: 'student@example.test' },
      { handle: 'student_level', name: 'Student Level', value: 'Undergraduate' },
    ],
    status: [{ group: 'student', subgroups: ['University'], verified: true }],
  },
  everyGroup: {
    attributes: [{ handle: 'military_branch', name: 'Military Branch', value: 'Navy' }],
    status: [
      { group: 'military', subgroups: ['Service Member'], verified: true },
      { group: 'responder', subgroups: ['Firefighter'], verified: true },
      { group: 'government', subgroups: ['Federal'], verified: true },
      { group: 'teacher', subgroups: ['K-12'], verified: true },
      { group: 'student', subgroups: ['University'], verified: true },
      { group: 'nurse', subgroups: ['Registered Nurse'], verified: true },
      { group: 'low_income', subgroups: ['SNAP'], verified: true },
      { group: 'veteran', subgroups: ['Veteran'], verified: true },
    ],
  },
  unverifiedTeacher: {
    attributes: [],
    status: [{ group: 'teacher', subgroups: [], verified: false }],
  },
} satisfies Record<string, FakeIdmeAccount>;
