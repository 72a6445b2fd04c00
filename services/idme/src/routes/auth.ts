import { authenticate, getPrincipal, type Authenticator } from '@nself/auth';
import { parse as parseCookies } from 'cookie';
import type { Express, Request } from 'express';
import type { IdmeDeps } from '../deps.js';
import { completeVerification } from '../use-cases/complete-verification.js';
import { startVerification } from '../use-cases/start-verification.js';

/** The browser-binding cookie; the __Host- prefix (Secure, Path=/, no Domain) whenever it is Secure. */
export function flowCookieName(secure: boolean): string {
  return secure ? '__Host-idme_flow' : 'idme_flow';
}

function wantsJson(req: Request): boolean {
  return req.query.mode === 'json' || req.accepts(['html', 'json']) === 'json';
}

export function authRoutes(app: Express, deps: IdmeDeps, authenticator: Authenticator): void {
  const cookieName = flowCookieName(deps.config.cookieSecure);

  // Starts the verification for the calling user: 302 to ID.me (or {authorizationUrl} for SPAs that
  // call it with fetch: ?mode=json or Accept: application/json) and sets the httpOnly binding cookie.
  app.get('/v1/auth/start', authenticate(authenticator), async (req, res) => {
    const cookies = parseCookies(req.headers.cookie ?? '');
    const returnTo = req.query.returnTo ?? req.query.return_to;
    const started = await startVerification(deps, getPrincipal(req), { returnTo, browserToken: cookies[cookieName] });
    res.cookie(cookieName, started.browserToken, {
      httpOnly: true,
      sameSite: 'lax',
      secure: deps.config.cookieSecure,
      path: '/',
      maxAge: started.expiresInSeconds * 1000,
    });
    res.set('Cache-Control', 'no-store');
    if (wantsJson(req)) {
      res.json({ authorizationUrl: started.authorizationUrl, expiresIn: started.expiresInSeconds });
      return;
    }
    res.redirect(302, started.authorizationUrl);
  });

  // ID.me sends the browser here. Refusals are problem+json 4xx; success (or the user cancelling) goes
  // back to the app's return URL with only ?idme=<status>.
  app.get('/v1/auth/callback', async (req, res) => {
    const queryString = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?') + 1) : '';
    const cookies = parseCookies(req.headers.cookie ?? '');
    res.set('Cache-Control', 'no-store');
    // The code is in this URL: the page the browser lands on must not receive it as a Referer.
    res.set('Referrer-Policy', 'no-referrer');
    const result = await completeVerification(deps, { query: new URLSearchParams(queryString), browserToken: cookies[cookieName] });
    res.redirect(302, result.redirectTo);
  });
}
