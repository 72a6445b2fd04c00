import { kindForStatus, networkError, ProviderError } from './types.js';

export interface HttpResponse {
  status: number;
  headers: Headers;
  body: unknown;
  text: string;
}

/** One provider API call with a timeout; non-2xx answers become a ProviderError with the right kind. */
export async function callProvider(
  provider: string,
  url: string,
  init: RequestInit & { timeoutMs: number },
  describeError?: (response: HttpResponse) => { message?: string; code?: string; kind?: 'transient' | 'permanent' },
): Promise<HttpResponse> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs) });
  } catch (error) {
    throw networkError(provider, error);
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw networkError(provider, error);
  }
  let body: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  const result: HttpResponse = { status: response.status, headers: response.headers, body, text };
  if (response.status >= 200 && response.status < 300) return result;
  const described = describeError?.(result) ?? {};
  throw new ProviderError(
    `${provider}: HTTP ${response.status}${described.message ? ` ${described.message}` : ''}`.slice(0, 500),
    described.kind ?? kindForStatus(response.status),
    { status: response.status, providerCode: described.code },
  );
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
