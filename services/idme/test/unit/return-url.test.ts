import { describe, expect, it } from 'vitest';
import { resolveReturnUrl, withStatus } from '../../src/return-url.js';

const ALLOWED = ['https://app.example.test/after-idme', 'https://app.example.test/settings/', 'http://localhost:3000/'];

describe('return URL allow-list', () => {
  it('defaults to the first entry and accepts URLs at or under an entry', () => {
    expect(resolveReturnUrl(undefined, ALLOWED)).toBe('https://app.example.test/after-idme');
    expect(resolveReturnUrl('https://app.example.test/after-idme?x=1', ALLOWED)).toBe('https://app.example.test/after-idme?x=1');
    expect(resolveReturnUrl('https://app.example.test/after-idme/done', ALLOWED)).toBe('https://app.example.test/after-idme/done');
    expect(resolveReturnUrl('https://app.example.test/settings/idme#top', ALLOWED)).toBe('https://app.example.test/settings/idme');
    expect(resolveReturnUrl('http://localhost:3000/anything', ALLOWED)).toBe('http://localhost:3000/anything');
    expect(resolveReturnUrl('HTTPS://APP.EXAMPLE.TEST/after-idme', ALLOWED)).toBe('https://app.example.test/after-idme');
  });

  it.each([
    'https://evil.example/after-idme',
    '//evil.example',
    '/after-idme',
    'after-idme',
    'https://app.example.test/after-idmex',
    'https://app.example.test/settings',
    'https://app.example.test/after-idme/../admin',
    'https://app.example.test/%2e%2e/admin',
    'https://app.example.test:8443/after-idme',
    'http://localhost:3001/',
    'https://user@app.example.test/after-idme',
    'https://app.example.test\\@evil.example/',
    'https://app.example.test/after-idme\n',
    'javascript:alert(1)',
    'ftp://app.example.test/after-idme',
  ])('refuses %j', (candidate) => {
    expect(() => resolveReturnUrl(candidate, ALLOWED)).toThrow(expect.objectContaining({ code: 'RETURN_URL_NOT_ALLOWED', status: 400 }));
  });

  it('refuses everything when nothing is allowed', () => {
    expect(() => resolveReturnUrl(undefined, [])).toThrow(expect.objectContaining({ code: 'RETURN_URL_NOT_ALLOWED' }));
  });

  it('adds only the status flag', () => {
    expect(withStatus('https://app.example.test/after-idme?tab=1', 'verified')).toBe('https://app.example.test/after-idme?tab=1&idme=verified');
    expect(withStatus('https://app.example.test/after-idme?idme=x', 'denied')).toBe('https://app.example.test/after-idme?idme=denied');
  });
});
