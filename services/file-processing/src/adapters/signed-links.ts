import { createHmac, timingSafeEqual } from 'node:crypto';

export interface LinkClaims {
  key: string;
  /** Unix seconds. */
  expiresAt: number;
  /** Download file name (Content-Disposition). */
  name?: string;
  /** Content-Type to serve. */
  type?: string;
}

export interface LinkSigner {
  sign(claims: LinkClaims): string;
  /** The claims when the token is authentic and not expired; null otherwise. */
  verify(token: string, now?: number): LinkClaims | null;
}

/**
 * Expiring download links for local-disk storage: base64url(JSON claims) + "." + HMAC-SHA256 over it.
 * The key is derived per purpose, so the signing secret is never used directly.
 */
export function createLinkSigner(secret: string): LinkSigner {
  const key = createHmac('sha256', secret).update('nself-file-processing/download-links/v1').digest();
  const mac = (payload: string) => createHmac('sha256', key).update(payload).digest();
  return {
    sign(claims) {
      const payload = Buffer.from(
        JSON.stringify({ k: claims.key, e: claims.expiresAt, n: claims.name, t: claims.type }),
      ).toString('base64url');
      return `${payload}.${mac(payload).toString('base64url')}`;
    },
    verify(token, now = Date.now() / 1000) {
      const [payload, signature, extra] = token.split('.');
      if (!payload || !signature || extra !== undefined) return null;
      const expected = mac(payload);
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
      try {
        const raw = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
          k?: unknown;
          e?: unknown;
          n?: unknown;
          t?: unknown;
        };
        if (typeof raw.k !== 'string' || typeof raw.e !== 'number' || raw.e < now) return null;
        return {
          key: raw.k,
          expiresAt: raw.e,
          name: typeof raw.n === 'string' ? raw.n : undefined,
          type: typeof raw.t === 'string' ? raw.t : undefined,
        };
      } catch {
        return null;
      }
    },
  };
}
