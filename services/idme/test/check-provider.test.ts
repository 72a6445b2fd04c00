import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerSettings, type ProviderSettings } from '../src/config.js';
import { checkProviderConfiguration, type ProviderReport } from '../src/use-cases/check-provider.js';
import { IDME_SCOPES, startFakeIdme, type FakeIdme } from './support/fake-idme.js';

const statusOf = (report: ProviderReport, check: string) => report.checks.find((c) => c.check === check)?.status;

describe('checking the client configuration against the discovery document (nself-idme test)', () => {
  let fake: FakeIdme;
  let misconfigured: Server;
  let misconfiguredUrl: string;
  let settings: ProviderSettings;

  beforeAll(async () => {
    fake = await startFakeIdme({ clients: [{ clientId: 'c', clientSecret: 's', redirectUris: ['http://127.0.0.1:1/v1/auth/callback'] }] });
    settings = providerSettings({
      NODE_ENV: 'test',
      IDME_CLIENT_ID: 'c',
      IDME_CLIENT_SECRET: 's',
      IDME_REDIRECT_URI: 'http://127.0.0.1:1/v1/auth/callback',
      IDME_SCOPES: ['openid', 'military', 'student'],
      IDME_SANDBOX: false,
      IDME_BASE_URL: fake.baseUrl,
      IDME_ISSUER_URL: undefined,
      IDME_ATTRIBUTES_URL: undefined,
      IDME_ALLOW_INSECURE_HTTP: true,
      IDME_TOKEN_AUTH_METHOD: 'client_secret_post',
      IDME_HTTP_TIMEOUT_SECONDS: 5,
    });
    // A provider whose discovery document is wrong in every way this client cares about.
    misconfigured = createServer((req, res) => {
      if (req.url === '/oidc/.well-known/openid-configuration') {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            issuer: `${misconfiguredUrl}/oidc`,
            authorization_endpoint: 'http://insecure.example.test/authorize',
            token_endpoint: `${misconfiguredUrl}/token`,
            response_types_supported: ['token'],
            code_challenge_methods_supported: ['plain'],
            token_endpoint_auth_methods_supported: ['private_key_jwt'],
            id_token_signing_alg_values_supported: ['HS256'],
            grant_types_supported: ['implicit'],
          }),
        );
        return;
      }
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => misconfigured.listen(0, '127.0.0.1', resolve));
    misconfiguredUrl = `http://127.0.0.1:${(misconfigured.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await fake?.close();
    misconfigured?.close();
  });

  it('passes against an ID.me-like provider, warning about the http loopback redirect URI', async () => {
    const report = await checkProviderConfiguration(settings);
    expect(report.ok).toBe(true);
    for (const check of ['discovery', 'issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'pkce', 'response_type', 'token_auth_method', 'id_token_alg', 'scopes', 'jwks', 'attributes_endpoint']) {
      expect(statusOf(report, check), check).toBe('ok');
    }
    expect(statusOf(report, 'redirect_uri')).toBe('warn');
    expect(IDME_SCOPES).toEqual(expect.arrayContaining(settings.scopes));
  });

  it('reports an issuer that does not match, scopes the provider does not list, and a non-https redirect URI', async () => {
    const report = await checkProviderConfiguration({
      ...settings,
      issuer: `${fake.issuer}/`,
      scopes: ['openid', 'veterans_plus'],
      redirectUri: 'http://app.example.test/v1/auth/callback',
    });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'issuer')).toMatchObject({ status: 'fail', detail: expect.stringContaining('IDME_ISSUER_URL') });
    expect(report.checks.find((c) => c.check === 'scopes')).toMatchObject({ status: 'warn', detail: expect.stringContaining('veterans_plus') });
    expect(statusOf(report, 'redirect_uri')).toBe('fail');
  });

  it('reports http endpoints when insecure requests are not allowed', async () => {
    const report = await checkProviderConfiguration({ ...settings, allowInsecureHttp: false });
    expect(report.ok).toBe(false);
    expect(statusOf(report, 'issuer.scheme')).toBe('fail');
    expect(statusOf(report, 'token_endpoint')).toBe('fail');
  });

  it('reports an unreachable discovery document', async () => {
    const report = await checkProviderConfiguration({ ...settings, issuer: 'http://127.0.0.1:9/oidc' });
    expect(report.ok).toBe(false);
    expect(report.checks.find((c) => c.check === 'discovery')).toMatchObject({ status: 'fail', detail: expect.stringContaining('could not be fetched') });
  });

  it('reports missing PKCE S256, response type, grant type, auth method, algorithm and JWKS', async () => {
    const report = await checkProviderConfiguration({
      ...settings,
      issuer: `${misconfiguredUrl}/oidc`,
      attributesUrl: `${misconfiguredUrl}/api/public/v3/attributes.json`,
    });
    expect(report.ok).toBe(false);
    expect(statusOf(report, 'issuer')).toBe('ok');
    for (const check of ['pkce', 'response_type', 'grant_type', 'token_auth_method', 'id_token_alg', 'jwks_uri', 'attributes_endpoint']) {
      expect(statusOf(report, check), check).toBe('fail');
    }
    expect(report.checks.find((c) => c.check === 'token_auth_method')?.detail).toContain('private_key_jwt');
    expect(statusOf(report, 'authorization_endpoint')).toBe('ok'); // http allowed here (local test flag)
  });
});
