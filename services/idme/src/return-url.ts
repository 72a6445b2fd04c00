import { Errors } from '@nself/errors';

/** The only thing the browser learns from the callback: a status flag on the app's return URL. */
export type CallbackStatus = 'verified' | 'unverified' | 'denied' | 'error';
export const STATUS_PARAM = 'idme';

function parseAbsolute(value: string): URL | null {
  // Control characters and backslashes have no place in a return URL (browsers read "\" as "/").
  for (const char of value) {
    const code = char.charCodeAt(0);
    if (code < 0x20 || code === 0x7f || char === '\\') return null;
  }
  try {
    const url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    if (url.username || url.password) return null;
    return url;
  } catch {
    return null;
  }
}

function pathAllowed(candidate: string, prefix: string): boolean {
  if (prefix === '/' || candidate === prefix) return true;
  return candidate.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`);
}

/**
 * Resolves the URL the callback sends the browser back to. Without a candidate: the first allow-listed
 * URL. With one: it must be absolute http(s), have the same origin as an allow-list entry and lie at or
 * under that entry's path (after URL normalization, so "/app/../admin" does not pass as "/app").
 */
export function resolveReturnUrl(candidate: string | undefined, allowed: string[]): string {
  if (allowed.length === 0) {
    throw Errors.badRequest('RETURN_URL_NOT_ALLOWED', 'No return URL is allowed: set IDME_ALLOWED_RETURN_URLS');
  }
  if (candidate === undefined || candidate === '') return new URL(allowed[0]!).href;
  const url = parseAbsolute(candidate);
  if (url) {
    for (const entry of allowed) {
      const base = new URL(entry);
      if (url.origin === base.origin && pathAllowed(url.pathname, base.pathname)) {
        url.hash = '';
        return url.href;
      }
    }
  }
  throw Errors.badRequest('RETURN_URL_NOT_ALLOWED', 'The return URL is not on the allow-list (IDME_ALLOWED_RETURN_URLS)');
}

export function withStatus(returnUrl: string, status: CallbackStatus): string {
  const url = new URL(returnUrl);
  url.searchParams.set(STATUS_PARAM, status);
  return url.href;
}
