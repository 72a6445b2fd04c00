import type { ProviderSettings } from '../config.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface ProviderCheck {
  check: string;
  status: CheckStatus;
  detail: string;
}

export interface ProviderReport {
  ok: boolean;
  issuer: string;
  discoveryUrl: string;
  checks: ProviderCheck[];
}

type Metadata = Record<string, unknown>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function list(metadata: Metadata, key: string): string[] | undefined {
  const value = metadata[key];
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : undefined;
}

async function fetchJson(url: string, timeoutMs: number): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

/**
 * `nself-idme test`: compares the client configuration with the provider's discovery document and
 * says what is wrong — issuer, endpoints and their scheme, PKCE S256, response type, grant type, client
 * authentication method, id_token algorithm, scopes, JWKS, redirect URI, attributes endpoint.
 */
export async function checkProviderConfiguration(settings: ProviderSettings): Promise<ProviderReport> {
  const checks: ProviderCheck[] = [];
  const add = (check: string, status: CheckStatus, detail: string) => checks.push({ check, status, detail });
  const timeoutMs = settings.timeoutSeconds * 1000;
  const discoveryUrl = `${settings.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const report = () => ({ ok: !checks.some((c) => c.status === 'fail'), issuer: settings.issuer, discoveryUrl, checks });
  const secureEnough = (url: string) => {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || (settings.allowInsecureHttp && parsed.protocol === 'http:');
  };

  checkRedirectUri(settings, add);
  if (!settings.scopes.includes('openid')) add('scopes.openid', 'fail', 'IDME_SCOPES must include "openid" (no id_token otherwise)');

  if (!secureEnough(settings.issuer)) {
    add('issuer.scheme', 'fail', `${settings.issuer} is not https (IDME_ALLOW_INSECURE_HTTP is for local providers only)`);
  }
  let metadata: Metadata;
  try {
    const { status, body } = await fetchJson(discoveryUrl, timeoutMs);
    if (status !== 200 || !body || typeof body !== 'object') {
      add('discovery', 'fail', `${discoveryUrl} answered HTTP ${status}${body ? '' : ' without JSON'}`);
      return report();
    }
    metadata = body as Metadata;
    add('discovery', 'ok', `fetched ${discoveryUrl}`);
  } catch (error) {
    add('discovery', 'fail', `${discoveryUrl} could not be fetched: ${(error as Error).message}`);
    return report();
  }

  if (metadata.issuer === settings.issuer) add('issuer', 'ok', String(metadata.issuer));
  else add('issuer', 'fail', `discovery says issuer "${String(metadata.issuer)}" but the client expects "${settings.issuer}" (set IDME_ISSUER_URL?)`);

  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
    const value = metadata[key];
    if (typeof value !== 'string') add(key, 'fail', 'missing from the discovery document');
    else if (!secureEnough(value)) add(key, 'fail', `${value} is not https`);
    else add(key, 'ok', value);
  }

  const pkce = list(metadata, 'code_challenge_methods_supported');
  if (!pkce) add('pkce', 'warn', 'code_challenge_methods_supported is not advertised; S256 is sent regardless');
  else if (pkce.includes('S256')) add('pkce', 'ok', `S256 supported (${pkce.join(', ')})`);
  else add('pkce', 'fail', `S256 is not supported (only ${pkce.join(', ') || 'nothing'})`);

  const responseTypes = list(metadata, 'response_types_supported');
  if (responseTypes && !responseTypes.includes('code')) add('response_type', 'fail', 'response_type "code" is not supported');
  else add('response_type', 'ok', 'code');

  const grants = list(metadata, 'grant_types_supported');
  if (grants && !grants.includes('authorization_code')) add('grant_type', 'fail', 'authorization_code grant is not supported');
  else add('grant_type', 'ok', 'authorization_code');

  const authMethods = list(metadata, 'token_endpoint_auth_methods_supported') ?? ['client_secret_basic'];
  if (authMethods.includes(settings.tokenAuthMethod)) add('token_auth_method', 'ok', settings.tokenAuthMethod);
  else add('token_auth_method', 'fail', `${settings.tokenAuthMethod} is not supported (set IDME_TOKEN_AUTH_METHOD to one of ${authMethods.join(', ')})`);

  const algs = list(metadata, 'id_token_signing_alg_values_supported');
  if (algs && !algs.includes('RS256')) add('id_token_alg', 'fail', `id_tokens are not signed with RS256 (${algs.join(', ')})`);
  else add('id_token_alg', 'ok', 'RS256');

  const scopes = list(metadata, 'scopes_supported');
  if (scopes) {
    const unknown = settings.scopes.filter((s) => !scopes.includes(s));
    if (unknown.length) add('scopes', 'warn', `not listed in scopes_supported: ${unknown.join(', ')} (ID.me may still grant them to your app)`);
    else add('scopes', 'ok', settings.scopes.join(' '));
  } else {
    add('scopes', 'warn', 'scopes_supported is not advertised');
  }

  if (typeof metadata.jwks_uri === 'string') {
    try {
      const { status, body } = await fetchJson(metadata.jwks_uri, timeoutMs);
      const keys = (body as { keys?: { use?: string; kty?: string }[] } | undefined)?.keys;
      const signing = keys?.filter((k) => k.use === undefined || k.use === 'sig') ?? [];
      if (status === 200 && signing.length) add('jwks', 'ok', `${signing.length} signing key(s)`);
      else add('jwks', 'fail', `the JWKS has no signing keys (HTTP ${status})`);
    } catch (error) {
      add('jwks', 'fail', `the JWKS could not be fetched: ${(error as Error).message}`);
    }
  }

  try {
    const response = await fetch(settings.attributesUrl, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    if (response.status === 404) add('attributes_endpoint', 'fail', `${settings.attributesUrl} answered 404`);
    else if (!secureEnough(settings.attributesUrl)) add('attributes_endpoint', 'fail', `${settings.attributesUrl} is not https`);
    else add('attributes_endpoint', 'ok', `${settings.attributesUrl} reachable (HTTP ${response.status} without a token)`);
  } catch (error) {
    add('attributes_endpoint', 'fail', `${settings.attributesUrl} could not be reached: ${(error as Error).message}`);
  }
  return report();
}

function checkRedirectUri(settings: ProviderSettings, add: (check: string, status: CheckStatus, detail: string) => void): void {
  const uri = new URL(settings.redirectUri);
  if (uri.hash) add('redirect_uri', 'fail', 'IDME_REDIRECT_URI must not contain a fragment');
  else if (uri.protocol === 'https:') add('redirect_uri', 'ok', settings.redirectUri);
  else if (uri.protocol === 'http:' && LOOPBACK.has(uri.hostname)) {
    add('redirect_uri', 'warn', `${settings.redirectUri} uses http on loopback: fine for development, register https for production`);
  } else add('redirect_uri', 'fail', `${settings.redirectUri} must use https (ID.me refuses other redirect URIs)`);
  if (!uri.pathname.endsWith('/v1/auth/callback')) {
    add('redirect_uri.path', 'warn', 'IDME_REDIRECT_URI usually ends with /v1/auth/callback (or /idme/v1/auth/callback through the gateway)');
  }
}
