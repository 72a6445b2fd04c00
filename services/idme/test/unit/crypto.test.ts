import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deriveStateKey, SecretBox, sha256, uuidv7 } from '../../src/crypto.js';

describe('SecretBox (AES-256-GCM)', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips with a fresh IV each time', () => {
    const a = box.encrypt('access-token-value', 'row-1');
    const b = box.encrypt('access-token-value', 'row-1');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1\./);
    expect(a).not.toContain('access-token-value');
    expect(box.decrypt(a, 'row-1')).toBe('access-token-value');
  });

  it('returns null for another row, another key, tampering, or garbage', () => {
    const sealed = box.encrypt('secret', 'row-1');
    expect(box.decrypt(sealed, 'row-2')).toBeNull();
    expect(new SecretBox(randomBytes(32)).decrypt(sealed, 'row-1')).toBeNull();
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[2]!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    expect(box.decrypt([parts[0], parts[1], flipped.toString('base64url'), parts[3]].join('.'), 'row-1')).toBeNull();
    expect(box.decrypt('', 'row-1')).toBeNull();
    expect(box.decrypt(null)).toBeNull();
    expect(box.decrypt('v2.a.b.c')).toBeNull();
  });

  it('refuses keys that are not 32 bytes', () => {
    expect(() => new SecretBox(randomBytes(16))).toThrow(/32-byte/);
  });

  it('derives a distinct state key from the same material', () => {
    const material = randomBytes(32);
    const derived = deriveStateKey(material);
    expect(derived).toHaveLength(32);
    expect(derived.equals(material)).toBe(false);
    expect(deriveStateKey(material).equals(derived)).toBe(true);
  });

  it('hashes to base64url SHA-256 (the PKCE S256 challenge of RFC 7636 appendix B)', () => {
    expect(sha256('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('makes time-ordered version 7 UUIDs', () => {
    const a = uuidv7(Date.UTC(2026, 10, 23));
    const b = uuidv7(Date.UTC(2026, 10, 23) + 1);
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a.slice(0, 13)).toBe('01a205b3-d000');
    expect(a < b).toBe(true);
  });
});
