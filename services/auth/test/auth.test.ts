import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import jwt from 'jsonwebtoken';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { createMemoryLogger } from '@nself/logging';
import { errorMiddleware } from '@nself/errors';
import { authenticate, createAuthenticator, getPrincipal, requireAdmin } from '../src/index.js';

const SECRET = 'a-test-secret-that-is-long-enough-1234';
const ADMIN_SECRET = 'admin-secret-0123456789';

function hs256(payload: object, options: jwt.SignOptions = { expiresIn: 60 }, secret = SECRET) {
  return jwt.sign(payload, secret, { algorithm: 'HS256', ...options });
}

describe('HS256 tokens', () => {
  const auth = createAuthenticator({ jwtSecret: SECRET, issuer: 'nself', adminSecret: ADMIN_SECRET });

  it('accepts a valid token and reads sub, roles and the account', async () => {
    const p = await auth.verifyToken(
      hs256({ sub: 'u1', roles: ['user'], source_account_id: 'app2' }, { expiresIn: 60, issuer: 'nself' }),
    );
    expect(p).toEqual({ userId: 'u1', roles: ['user'], isAdmin: false, sourceAccountId: 'app2', via: 'jwt' });
  });

  it('defaults the account to primary', async () => {
    const p = await auth.verifyToken(hs256({ sub: 'u1' }, { expiresIn: 60, issuer: 'nself' }));
    expect(p.sourceAccountId).toBe('primary');
  });

  it('reads Hasura claims (object and stringified) including admin role', async () => {
    const claims = {
      'x-hasura-user-id': 'h-user',
      'x-hasura-default-role': 'user',
      'x-hasura-allowed-roles': ['user', 'admin'],
    };
    const asObject = await auth.verifyToken(
      hs256({ sub: 'other', 'https://hasura.io/jwt/claims': claims }, { expiresIn: 60, issuer: 'nself' }),
    );
    expect(asObject).toMatchObject({ userId: 'h-user', isAdmin: true });
    expect(asObject.roles.sort()).toEqual(['admin', 'user']);
    const asString = await auth.verifyToken(
      hs256({ 'https://hasura.io/jwt/claims': JSON.stringify(claims) }, { expiresIn: 60, issuer: 'nself' }),
    );
    expect(asString.userId).toBe('h-user');
  });

  it.each([
    ['forged (wrong secret)', () => hs256({ sub: 'u1' }, { expiresIn: 60, issuer: 'nself' }, 'another-secret-that-is-long-enough!!'), 'INVALID_TOKEN'],
    ['expired', () => hs256({ sub: 'u1', exp: Math.floor(Date.now() / 1000) - 120, iss: 'nself' }, {}), 'TOKEN_EXPIRED'],
    ['unsigned (alg none)', () => jwt.sign({ sub: 'u1', iss: 'nself' }, '', { algorithm: 'none', expiresIn: 60 }), 'INVALID_TOKEN'],
    ['wrong issuer', () => hs256({ sub: 'u1' }, { expiresIn: 60, issuer: 'evil' }), 'INVALID_TOKEN'],
    ['without exp', () => hs256({ sub: 'u1', iss: 'nself' }, {}), 'INVALID_TOKEN'],
    ['garbage', () => 'not.a.token', 'INVALID_TOKEN'],
  ])('rejects a %s token', async (_name, makeToken, code) => {
    await expect(auth.verifyToken(makeToken())).rejects.toMatchObject({ status: 401, code });
  });

  it('rejects a tampered payload', async () => {
    const token = hs256({ sub: 'u1', roles: ['user'] }, { expiresIn: 60, issuer: 'nself' });
    const [h, , s] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ sub: 'u1', roles: ['admin'], iss: 'nself', exp: 9999999999 })).toString('base64url');
    await expect(auth.verifyToken(`${h}.${forgedPayload}.${s}`)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('rejects an invalid source_account_id claim', async () => {
    await expect(
      auth.verifyToken(hs256({ sub: 'u1', source_account_id: '../etc' }, { expiresIn: 60, issuer: 'nself' })),
    ).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });
});

describe('RS256 via JWKS', () => {
  let server: http.Server;
  let jwksUrl: string;
  let privateKey: CryptoKey;
  let publicPem: string;
  let otherKey: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    publicPem = await exportSPKI(pair.publicKey);
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const sign = (key: CryptoKey, claims: object = { sub: 'rs-user' }) =>
    new SignJWT({ ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('1m').sign(key);

  it('accepts a token signed by a key in the JWKS', async () => {
    const auth = createAuthenticator({ jwksUrl });
    expect((await auth.verifyToken(await sign(privateKey))).userId).toBe('rs-user');
  });

  it('rejects a token signed by another key', async () => {
    const auth = createAuthenticator({ jwksUrl });
    await expect(auth.verifyToken(await sign(otherKey))).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });

  it('rejects an HS256 token made with the public key as secret (algorithm confusion)', async () => {
    const auth = createAuthenticator({ jwksUrl });
    const confused = jwt.sign({ sub: 'x' }, publicPem, { algorithm: 'HS256', expiresIn: 60 });
    await expect(auth.verifyToken(confused)).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
  });
});

describe('express middleware', () => {
  const auth = createAuthenticator({ jwtSecret: SECRET, adminSecret: ADMIN_SECRET });
  const { logger } = createMemoryLogger();
  const app = express();
  app.get('/me', authenticate(auth), (req, res) => {
    res.json(getPrincipal(req));
  });
  app.get('/admin', authenticate(auth), requireAdmin(), (_req, res) => {
    res.json({ ok: true });
  });
  app.use(errorMiddleware(logger));

  it('401s without credentials and with a bad token', async () => {
    const none = await request(app).get('/me');
    expect(none.status).toBe(401);
    expect(none.body.code).toBe('UNAUTHORIZED');
    const bad = await request(app).get('/me').set('authorization', 'Bearer nope');
    expect(bad.status).toBe(401);
    expect(bad.body.code).toBe('INVALID_TOKEN');
  });

  it('403s a non-admin on admin routes and admits the admin role and the admin secret', async () => {
    const user = await request(app).get('/admin').set('authorization', `Bearer ${hs256({ sub: 'u' })}`);
    expect(user.status).toBe(403);
    expect(user.body.code).toBe('ADMIN_REQUIRED');
    const admin = await request(app).get('/admin').set('authorization', `Bearer ${hs256({ sub: 'a', role: 'admin' })}`);
    expect(admin.status).toBe(200);
    const secret = await request(app).get('/admin').set('x-admin-secret', ADMIN_SECRET);
    expect(secret.status).toBe(200);
    const wrongSecret = await request(app).get('/admin').set('x-admin-secret', 'wrong-secret-1234567');
    expect(wrongSecret.status).toBe(401);
  });

  it('ignores a client-chosen account header for token callers', async () => {
    const res = await request(app)
      .get('/me')
      .set('authorization', `Bearer ${hs256({ sub: 'u' })}`)
      .set('x-source-account-id', 'someone-else');
    expect(res.body.sourceAccountId).toBe('primary');
  });
});
