/**
 * A cookie-keeping HTTP client that plays the browser: it stores Set-Cookie per origin (tough-cookie),
 * sends cookies back, and follows redirects one hop at a time so a test can stop at — or tamper with —
 * any hop. No real browser is needed for an OAuth redirect dance.
 */
import { CookieJar } from 'tough-cookie';

export interface Hop {
  url: string;
  status: number;
  location: string | null;
  headers: Headers;
  text: string;
}

export class TestBrowser {
  readonly jar = new CookieJar();

  async request(url: string, init: { method?: string; headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Hop> {
    const headers = new Headers(init.headers);
    const cookie = await this.jar.getCookieString(url);
    if (cookie) headers.set('cookie', cookie);
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers.set('content-type', 'application/x-www-form-urlencoded');
    }
    const response = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const setCookie of response.headers.getSetCookie()) {
      await this.jar.setCookie(setCookie, url, { ignoreError: true });
    }
    const location = response.headers.get('location');
    return {
      url,
      status: response.status,
      location: location ? new URL(location, url).href : null,
      headers: response.headers,
      text: await response.text(),
    };
  }

  get(url: string, headers?: Record<string, string>): Promise<Hop> {
    return this.request(url, { headers });
  }
}

/**
 * Follows the authorization request through the provider: the login form is posted for `account`, and
 * the redirect back to the client (the URL starting with `redirectUri`) is returned without following it.
 */
export async function signInAtProvider(browser: TestBrowser, authorizationUrl: string, account: string, redirectUri: string): Promise<string> {
  let hop = await browser.get(authorizationUrl);
  for (let i = 0; i < 12; i += 1) {
    if (hop.location?.startsWith(redirectUri)) return hop.location;
    if (hop.status >= 300 && hop.status < 400 && hop.location) {
      hop = await browser.get(hop.location);
      continue;
    }
    const form = /<form method="post" action="([^"]+)"/.exec(hop.text);
    if (hop.status === 200 && form?.[1] && !hop.text.includes('Unknown account')) {
      hop = await browser.request(new URL(form[1], hop.url).href, { form: { account } });
      continue;
    }
    throw new Error(`sign-in stopped at ${hop.url}: HTTP ${hop.status} ${hop.text.slice(0, 300)}`);
  }
  throw new Error('sign-in did not come back to the client');
}
