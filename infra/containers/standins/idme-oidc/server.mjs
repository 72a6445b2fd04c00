#!/usr/bin/env node
/* eslint-disable no-console -- a server that logs to stdout */
/* global URL, fetch, AbortSignal -- Node 20 globals */
// Stand-in for ID.me's OpenID provider where api.idmelabs.com cannot be reached (used only by
// infra/compose-override.offline.yaml). A real, certified OpenID provider library (oidc-provider)
// configured like ID.me: issuer <IDME_OIDC_BASE_URL>/oidc, one confidential client from the
// environment (IDME_CLIENT_ID / IDME_CLIENT_SECRET / IDME_REDIRECT_URI), authorization code flow
// with PKCE S256 required, client_secret_post, ID.me's group scopes. It validates authorization
// requests exactly (unknown client, foreign redirect_uri, missing PKCE → error); sign-in is the
// library's development login. GET /health answers 200.
//   server.mjs            serve on :9400
//   server.mjs health     exit 0 when /health answers (the compose healthcheck)
import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 9400);
if (process.argv[2] === 'health') {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(3000) });
    process.exit(response.status === 200 ? 0 : 1);
  } catch {
    process.exit(1);
  }
}

const required = (name) => {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(1);
  }
  return value;
};
const base = (process.env.IDME_OIDC_BASE_URL || `http://idme-oidc:${port}`).replace(/\/+$/, '');
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idme-standin-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(`${base}/oidc`, {
  clients: [{
    client_id: required('IDME_CLIENT_ID'),
    client_secret: required('IDME_CLIENT_SECRET'),
    redirect_uris: required('IDME_REDIRECT_URI').split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
    id_token_signed_response_alg: 'RS256',
  }],
  clientAuthMethods: ['client_secret_post', 'client_secret_basic'],
  responseTypes: ['code'],
  pkce: { required: () => true },
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('base64')] },
  scopes: ['openid', 'email', 'profile', 'military', 'responder', 'government', 'teacher', 'student', 'nurse', 'low_income'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  features: { devInteractions: { enabled: true }, userinfo: { enabled: true } },
  renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});
provider.proxy = true;
const handle = provider.callback();

http
  .createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    if (path.startsWith('/oidc')) {
      // mounted under /oidc, as on ID.me: the library derives its mount path from originalUrl
      req.originalUrl = req.url;
      req.url = req.url.slice('/oidc'.length) || '/';
      handle(req, res);
      return;
    }
    res.writeHead(404).end();
  })
  .listen(port, '0.0.0.0', () => console.log(`ID.me OpenID provider stand-in: issuer ${base}/oidc`));
