import type { Express } from 'express';
import { Errors } from '@nself/errors';
import type { LinkSigner } from '../adapters/signed-links.js';
import type { LocalStorage } from '../adapters/storage.js';

/**
 * GET /v1/download/:token — the presigned-URL equivalent for local-disk storage: an HMAC-signed,
 * expiring token names the object; no other credential is needed (like an S3 presigned URL).
 */
export function downloadRoutes(app: Express, storage: LocalStorage, signer: LinkSigner): void {
  app.get('/v1/download/:token', async (req, res) => {
    const claims = signer.verify(req.params.token as string);
    if (!claims) throw Errors.forbidden('The link is invalid or has expired', 'LINK_INVALID');
    const head = await storage.head(claims.key);
    if (!head) throw Errors.notFound('File', 'FILE_NOT_FOUND');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Content-Security-Policy', "default-src 'none'; sandbox");
    res.setHeader('Cache-Control', `private, max-age=${Math.max(0, claims.expiresAt - Math.floor(Date.now() / 1000))}`);
    if (claims.name) res.attachment(claims.name);
    await new Promise<void>((resolve, reject) => {
      res.sendFile(
        storage.pathOf(claims.key),
        { headers: claims.type ? { 'Content-Type': claims.type } : {}, dotfiles: 'allow', cacheControl: false },
        (error) => (error && !res.headersSent ? reject(error) : resolve()),
      );
    });
  });
}
