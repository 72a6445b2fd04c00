import { promises as dnsPromises, lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { createAddressPolicy, parseAddress } from './ip-policy.js';

/** Why an outbound request failed; `retryable` says whether another attempt could succeed. */
export class HttpRequestError extends Error {
  constructor(
    readonly code:
      | 'SSRF_BLOCKED'
      | 'INVALID_URL'
      | 'DNS_FAILED'
      | 'TIMEOUT'
      | 'ABORTED'
      | 'RESPONSE_TOO_LARGE'
      | 'TOO_MANY_REDIRECTS'
      | 'CONNECTION_FAILED',
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'HttpRequestError';
  }
}

export interface SafeHttpOptions {
  /** Hostnames exempt from the address check: exact ("hooks.internal") or a suffix (".internal" / "*.internal"). */
  allowedHosts: string[];
  /** Address ranges exempt from the check, e.g. "10.1.0.0/16" or "127.0.0.1/32". */
  allowedCidrs: string[];
  /** DNS servers ("ip" or "ip:port") to resolve with instead of the system resolver. */
  dnsServers: string[];
  /** Hard cap for timeouts and sizes a caller may ask for. */
  maxTimeoutMs: number;
  maxResponseBytes: number;
  maxRedirects: number;
}

export interface SafeRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  timeoutMs: number;
  maxResponseBytes?: number;
  followRedirects?: boolean;
  signal?: AbortSignal;
}

export interface SafeResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The final URL after redirects. */
  url: string;
  redirects: string[];
}

export interface SafeHttpClient {
  request(request: SafeRequest): Promise<SafeResponse>;
  /** Resolves and vets a URL's host without sending anything (registration-time check). */
  vet(url: string): Promise<void>;
  close(): void;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];

function hostAllowed(hostname: string, allowedHosts: string[]): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return allowedHosts.some((entry) => {
    if (entry.startsWith('*.')) return host.endsWith(entry.slice(1));
    if (entry.startsWith('.')) return host.endsWith(entry);
    return host === entry;
  });
}

function isAbort(error: unknown): boolean {
  return (error as { name?: string } | null)?.name === 'AbortError';
}

/**
 * Outbound HTTP for job handlers with an SSRF guard. The host is resolved first and every address is
 * vetted (no loopback, private, link-local, CGNAT, metadata or other special ranges, IPv4-mapped IPv6
 * included); the socket then connects to exactly those vetted addresses through a custom `lookup`, so a
 * second DNS answer (rebinding) can never swap in another target. Every redirect hop is vetted again.
 */
export function createSafeHttpClient(options: SafeHttpOptions): SafeHttpClient {
  const policy = createAddressPolicy(options.allowedCidrs);
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: 64 }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: 64 }),
  };
  let resolver: dnsPromises.Resolver | undefined;
  if (options.dnsServers.length) {
    resolver = new dnsPromises.Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers(options.dnsServers);
  }

  async function resolveHost(hostname: string): Promise<LookupAddress[]> {
    try {
      if (resolver) {
        const settle = async (family: 4 | 6) => {
          try {
            const list = family === 4 ? await resolver!.resolve4(hostname) : await resolver!.resolve6(hostname);
            return list.map((address) => ({ address, family }));
          } catch (error) {
            const code = (error as { code?: string }).code;
            if (code === 'ENODATA' || code === 'ENOTFOUND') return [];
            throw error;
          }
        };
        return [...(await settle(4)), ...(await settle(6))];
      }
      return await new Promise<LookupAddress[]>((resolve, reject) =>
        dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) =>
          error ? reject(error) : resolve(addresses),
        ),
      );
    } catch (error) {
      const code = (error as { code?: string }).code;
      const permanent = code === 'ENOTFOUND';
      throw new HttpRequestError('DNS_FAILED', `could not resolve ${hostname}: ${code ?? 'error'}`, !permanent);
    }
  }

  /** The addresses this URL may be connected to; throws SSRF_BLOCKED when any of them is forbidden. */
  async function vetUrl(url: URL): Promise<LookupAddress[]> {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HttpRequestError('INVALID_URL', `only http and https URLs are allowed, not ${url.protocol}`, false);
    }
    if (url.username || url.password) {
      throw new HttpRequestError('INVALID_URL', 'URLs with embedded credentials are not allowed', false);
    }
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (isIP(hostname) || parseAddress(hostname)) {
      const verdict = policy(hostname);
      if (!verdict.allowed) throw new HttpRequestError('SSRF_BLOCKED', `refused ${hostname}: ${verdict.reason}`, false);
      return [{ address: hostname, family: isIP(hostname) === 6 ? 6 : 4 }];
    }
    const addresses = await resolveHost(hostname);
    if (!addresses.length) throw new HttpRequestError('DNS_FAILED', `${hostname} has no addresses`, true);
    if (hostAllowed(hostname, options.allowedHosts)) return addresses;
    for (const { address } of addresses) {
      const verdict = policy(address);
      if (!verdict.allowed) {
        throw new HttpRequestError('SSRF_BLOCKED', `refused ${hostname}: resolves to ${verdict.reason}`, false);
      }
    }
    return addresses;
  }

  function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
    return ((_hostname: string, opts: { all?: boolean; family?: number }, callback: (...args: unknown[]) => void) => {
      const matching = opts.family ? addresses.filter((a) => a.family === opts.family) : addresses;
      const list = matching.length ? matching : addresses;
      if (opts.all) callback(null, list);
      else callback(null, list[0]!.address, list[0]!.family);
    }) as unknown as LookupFunction;
  }

  function once(
    url: URL,
    addresses: LookupAddress[],
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    maxBytes: number,
    signal: AbortSignal,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(url, {
        method,
        headers: body ? { ...headers, 'content-length': String(body.length) } : headers,
        agent: agents[url.protocol as 'http:' | 'https:'],
        lookup: pinnedLookup(addresses),
        signal,
      });
      req.once('error', (error) => {
        if (isAbort(error) || signal.aborted) {
          const reason = signal.reason as unknown;
          reject(reason instanceof HttpRequestError ? reason : new HttpRequestError('ABORTED', 'request aborted', true));
          return;
        }
        reject(new HttpRequestError('CONNECTION_FAILED', `${method} ${url.origin} failed: ${error.message}`, true));
      });
      req.once('response', (res: IncomingMessage) => {
        const declared = Number(res.headers['content-length'] ?? NaN);
        if (Number.isFinite(declared) && declared > maxBytes) {
          res.destroy();
          req.destroy();
          reject(new HttpRequestError('RESPONSE_TOO_LARGE', `response of ${declared} bytes exceeds ${maxBytes}`, false));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            res.destroy();
            req.destroy();
            reject(new HttpRequestError('RESPONSE_TOO_LARGE', `response exceeds ${maxBytes} bytes`, false));
            return;
          }
          chunks.push(chunk);
        });
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.once('error', (error) => {
          if (signal.aborted) {
            const reason = signal.reason as unknown;
            reject(reason instanceof HttpRequestError ? reason : new HttpRequestError('ABORTED', 'request aborted', true));
            return;
          }
          reject(new HttpRequestError('CONNECTION_FAILED', `reading the response failed: ${error.message}`, true));
        });
      });
      req.end(body);
    });
  }

  async function request(input: SafeRequest): Promise<SafeResponse> {
    let url: URL;
    try {
      url = new URL(input.url);
    } catch {
      throw new HttpRequestError('INVALID_URL', 'not a valid URL', false);
    }
    const timeoutMs = Math.min(input.timeoutMs, options.maxTimeoutMs);
    const maxBytes = Math.min(input.maxResponseBytes ?? options.maxResponseBytes, options.maxResponseBytes);
    const controller = new AbortController();
    const timer = setTimeout(
      () => controller.abort(new HttpRequestError('TIMEOUT', `no complete response within ${timeoutMs} ms`, true)),
      timeoutMs,
    );
    const onOuterAbort = () => controller.abort(input.signal?.reason);
    if (input.signal?.aborted) onOuterAbort();
    input.signal?.addEventListener('abort', onOuterAbort, { once: true });

    let method = (input.method ?? 'GET').toUpperCase();
    let headers: Record<string, string> = Object.fromEntries(
      Object.entries(input.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
    );
    let body = input.body === undefined ? undefined : Buffer.from(input.body);
    const redirects: string[] = [];
    try {
      for (;;) {
        if (controller.signal.aborted) throw controller.signal.reason;
        const addresses = await vetUrl(url);
        const response = await once(url, addresses, method, headers, body, maxBytes, controller.signal);
        const location = response.headers.location;
        if (input.followRedirects === false || !REDIRECTS.has(response.status) || !location) {
          return { ...response, url: url.toString(), redirects };
        }
        if (redirects.length >= options.maxRedirects) {
          throw new HttpRequestError('TOO_MANY_REDIRECTS', `more than ${options.maxRedirects} redirects`, false);
        }
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          throw new HttpRequestError('INVALID_URL', 'redirect to an invalid URL', false);
        }
        if (next.origin !== url.origin) {
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !CREDENTIAL_HEADERS.includes(k)));
        }
        // Fetch semantics: 303 always, and 301/302 for POST, become a body-less GET.
        if (response.status === 303 || ((response.status === 301 || response.status === 302) && method === 'POST')) {
          if (method !== 'HEAD') method = 'GET';
          body = undefined;
          delete headers['content-type'];
        }
        redirects.push(next.toString());
        url = next;
      }
    } catch (error) {
      if (error instanceof HttpRequestError) throw error;
      if (controller.signal.aborted && controller.signal.reason instanceof HttpRequestError) throw controller.signal.reason;
      throw new HttpRequestError('CONNECTION_FAILED', error instanceof Error ? error.message : String(error), true);
    } finally {
      clearTimeout(timer);
      input.signal?.removeEventListener('abort', onOuterAbort);
    }
  }

  return {
    request,
    async vet(raw) {
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        throw new HttpRequestError('INVALID_URL', 'not a valid URL', false);
      }
      await vetUrl(url);
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
