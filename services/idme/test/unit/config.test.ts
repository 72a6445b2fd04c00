import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '@nself/config';
import { describe, expect, it } from 'vitest';
import { loadBadgeCatalog } from '../../src/badges.js';
import { loadIdmeConfig, loadProviderSettings } from '../../src/config.js';

const BASE = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x',
  AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672',
  JWT_SECRET: 'x'.repeat(40),
  IDME_CLIENT_ID: 'client',
  IDME_CLIENT_SECRET: 'secret',
  IDME_REDIRECT_URI: 'https://api.example.test/idme/v1/auth/callback',
};

function configError(env: Record<string, string>): ConfigError {
  try {
    loadIdmeConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('idme configuration', () => {
  it('names every missing required variable, never values', () => {
    const error = configError({ IDME_CLIENT_SECRET: 'super-secret-value' });
    expect(error.variables.sort()).toEqual(['AMQP_URL', 'DATABASE_URL', 'IDME_CLIENT_ID', 'IDME_REDIRECT_URI']);
    expect(error.message).not.toContain('super-secret-value');
    const { JWT_SECRET: _omitted, ...withoutJwt } = BASE;
    expect(configError(withoutJwt).variables).toEqual(['JWT_SECRET']);
  });

  it('uses production ID.me by default, the sandbox with IDME_SANDBOX, and a base URL override', () => {
    const production = loadIdmeConfig(BASE).provider;
    expect(production).toMatchObject({
      issuer: 'https://api.id.me/oidc',
      attributesUrl: 'https://api.id.me/api/public/v3/attributes.json',
      scopes: ['openid', 'email', 'profile'],
      allowInsecureHttp: false,
      tokenAuthMethod: 'client_secret_post',
    });
    const sandbox = loadIdmeConfig({ ...BASE, IDME_SANDBOX: 'true', IDME_SCOPES: 'openid, military ,student' }).provider;
    expect(sandbox).toMatchObject({ issuer: 'https://api.idmelabs.com/oidc', sandbox: true, scopes: ['openid', 'military', 'student'] });
    const local = loadIdmeConfig({ ...BASE, NODE_ENV: 'test', IDME_BASE_URL: 'http://127.0.0.1:9999/', IDME_ALLOW_INSECURE_HTTP: 'true' }).provider;
    expect(local).toMatchObject({ issuer: 'http://127.0.0.1:9999/oidc', attributesUrl: 'http://127.0.0.1:9999/api/public/v3/attributes.json' });
    const issuerOnly = loadIdmeConfig({ ...BASE, IDME_ISSUER_URL: 'https://issuer.example.test' }).provider;
    expect(issuerOnly.issuer).toBe('https://issuer.example.test');
  });

  it('never allows plain http in production (NODE_ENV defaults to production)', () => {
    expect(configError({ ...BASE, IDME_ALLOW_INSECURE_HTTP: 'true' }).variables).toEqual(['IDME_ALLOW_INSECURE_HTTP']);
    expect(() => loadProviderSettings({ ...BASE, IDME_ALLOW_INSECURE_HTTP: 'true' })).toThrow(ConfigError);
    expect(loadProviderSettings({ ...BASE, NODE_ENV: 'development', IDME_ALLOW_INSECURE_HTTP: 'true' }).allowInsecureHttp).toBe(true);
  });

  it('accepts a 32-byte token key as hex or base64 and refuses anything else', () => {
    const hex = 'ab'.repeat(32);
    expect(loadIdmeConfig({ ...BASE, IDME_TOKEN_ENCRYPTION_KEY: hex }).tokenEncryptionKey?.toString('hex')).toBe(hex);
    const b64 = Buffer.alloc(32, 7).toString('base64');
    expect(loadIdmeConfig({ ...BASE, IDME_TOKEN_ENCRYPTION_KEY: b64 }).tokenEncryptionKey).toEqual(Buffer.alloc(32, 7));
    expect(configError({ ...BASE, IDME_TOKEN_ENCRYPTION_KEY: 'too-short' }).variables).toEqual(['IDME_TOKEN_ENCRYPTION_KEY']);
    expect(loadIdmeConfig(BASE).tokenEncryptionKey).toBeUndefined();
  });

  it('validates return URLs, the webhook secret length and the token auth method', () => {
    expect(configError({ ...BASE, IDME_ALLOWED_RETURN_URLS: 'not a url' }).variables[0]).toMatch(/^IDME_ALLOWED_RETURN_URLS/);
    expect(configError({ ...BASE, IDME_WEBHOOK_SECRET: 'short' }).variables).toEqual(['IDME_WEBHOOK_SECRET']);
    expect(configError({ ...BASE, IDME_TOKEN_AUTH_METHOD: 'none' }).variables).toEqual(['IDME_TOKEN_AUTH_METHOD']);
  });
});

describe('badge file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'idme-badges-'));

  it('ships a badge for every known group', () => {
    const catalog = loadBadgeCatalog();
    expect(catalog.all().map((b) => b.group)).toEqual([
      'military', 'veteran', 'first_responder', 'government', 'nurse', 'teacher', 'student', 'low_income',
    ]);
    expect(catalog.forGroup('responder')?.name).toBe('First Responder');
  });

  it('loads a custom file and refuses invalid ones naming IDME_BADGES_FILE', () => {
    const good = path.join(dir, 'good.json');
    writeFileSync(good, JSON.stringify({ Military: { name: 'Service', color: '#000', order: 1, expiresAfterDays: 30 } }));
    expect(loadBadgeCatalog(good).forGroup('military')).toEqual({
      group: 'military', name: 'Service', icon: null, color: '#000', order: 1, expiresAfterDays: 30,
    });
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ military: { name: 'x', color: 'blue', unknown: 1 } }));
    expect(() => loadBadgeCatalog(bad)).toThrow(ConfigError);
    expect(() => loadBadgeCatalog(path.join(dir, 'missing.json'))).toThrow(/IDME_BADGES_FILE: file not found/);
  });
});
