import * as client from 'openid-client';
import { AppError, Errors } from '@nself/errors';
import type { Logger } from '@nself/logging';
import type { ProviderSettings } from '../config.js';
import { attributesPayloadSchema, type AttributesPayload } from '../groups.js';

export interface TokenResult {
  /** ID.me's stable user id, from the validated id_token. */
  subject: string;
  accessToken: string;
  refreshToken: string | null;
  expiresAt: Date | null;
  scopes: string[];
}

/** ID.me behind the certified OpenID RP library (openid-client): the only code that speaks OAuth. */
export interface IdmeProvider {
  /** The authorization URL for a PKCE (S256) + state + nonce request. */
  authorizationUrl(params: { state: string; nonce: string; codeChallenge: string }): Promise<string>;
  /**
   * Validates the authorization response (state, iss) and redeems the code with the PKCE verifier; the
   * id_token's signature (provider JWKS), issuer, audience, expiry and nonce are all checked.
   */
  exchangeCode(params: { callbackQuery: URLSearchParams; state: string; nonce: string; codeVerifier: string }): Promise<TokenResult>;
  /** Group status and attributes from /api/public/v3/attributes.json. */
  fetchAttributes(accessToken: string): Promise<AttributesPayload>;
  /** Revokes a token at ID.me when it offers a revocation endpoint; false when it does not. */
  revokeToken(token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean>;
}

const DISCOVERY_REFRESH_MS = 24 * 3600_000;

function causeOf(error: unknown): { message?: string; code?: string; cause?: unknown } | undefined {
  return (error as { cause?: { message?: string; code?: string; cause?: unknown } } | undefined)?.cause;
}

/** Maps openid-client's failures to clear problem codes. Refusals are 4xx; ID.me being unusable is 5xx. */
export function classifyOidcError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof client.ResponseBodyError) {
    const description = error.error_description ? `: ${error.error_description}` : '';
    if (error.error === 'invalid_grant') {
      return Errors.badRequest(
        'AUTHORIZATION_CODE_REJECTED',
        `ID.me refused the authorization code (invalid, expired, already used or PKCE mismatch)${description}`,
      );
    }
    if (error.error === 'invalid_client' || error.error === 'unauthorized_client') {
      return Errors.badGateway(`ID.me refused this client's credentials${description}`, 'IDME_CLIENT_REJECTED');
    }
    return Errors.badGateway(`ID.me's token endpoint answered ${error.error}${description}`, 'IDME_TOKEN_ERROR');
  }
  if (error instanceof client.ClientError) {
    const inner = causeOf(error);
    const claim = (causeOf(inner) as { claim?: string } | undefined)?.claim;
    switch (error.code) {
      case 'OAUTH_JWT_CLAIM_COMPARISON_FAILED':
        if (claim === 'nonce') {
          return Errors.badRequest('NONCE_MISMATCH', 'The id_token nonce does not match the one sent with this sign-in');
        }
        return Errors.badRequest('ID_TOKEN_INVALID', `The id_token "${claim ?? 'claim'}" value is not the expected one`);
      case 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED':
        return Errors.badRequest('ID_TOKEN_INVALID', `The id_token failed its time checks (${claim ?? 'exp/iat'})`);
      case 'OAUTH_KEY_SELECTION_FAILED':
        return Errors.badRequest('ID_TOKEN_SIGNATURE_INVALID', "The id_token is not signed by any of ID.me's published keys");
      case 'OAUTH_INVALID_RESPONSE':
        if (inner?.message === 'JWT signature verification failed') {
          return Errors.badRequest('ID_TOKEN_SIGNATURE_INVALID', "The id_token signature does not verify with ID.me's published key");
        }
        return Errors.badGateway(`ID.me sent an invalid response: ${inner?.message ?? error.message}`, 'IDME_INVALID_RESPONSE');
      case 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED':
        return Errors.badRequest('AUTHORIZATION_RESPONSE_INVALID', `The authorization response is not valid: ${inner?.message ?? error.message}`);
      case 'OAUTH_HTTP_REQUEST_FORBIDDEN':
        return Errors.badGateway('ID.me endpoints must use https (IDME_ALLOW_INSECURE_HTTP is for local tests only)', 'IDME_INSECURE_ENDPOINT');
      default:
        return Errors.badGateway(`ID.me interaction failed: ${error.message}`, 'IDME_INVALID_RESPONSE');
    }
  }
  if (error instanceof client.AuthorizationResponseError) {
    return Errors.badRequest('AUTHORIZATION_DENIED', `ID.me returned ${error.error}`);
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    return Errors.badGateway('ID.me refused the access token', 'IDME_ATTRIBUTES_FAILED');
  }
  return Errors.badGateway('ID.me could not be reached', 'IDME_UNAVAILABLE');
}

/** Discovery failures are ID.me (or its configuration) being unusable: always 502, with the reason. */
function discoveryError(error: unknown): AppError {
  if (error instanceof client.ClientError && error.code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') {
    return Errors.badGateway('ID.me endpoints must use https (IDME_ALLOW_INSECURE_HTTP is for local tests only)', 'IDME_INSECURE_ENDPOINT');
  }
  const reason = error instanceof Error ? error.message : String(error);
  return Errors.badGateway(`ID.me discovery failed: ${reason}`, 'IDME_UNAVAILABLE');
}

export function createIdmeProvider(settings: ProviderSettings, logger: Logger): IdmeProvider {
  let discovered: { at: number; config: Promise<client.Configuration> } | undefined;

  function configuration(): Promise<client.Configuration> {
    if (!discovered || Date.now() - discovered.at > DISCOVERY_REFRESH_MS) {
      const clientAuth =
        settings.tokenAuthMethod === 'client_secret_basic'
          ? client.ClientSecretBasic(settings.clientSecret)
          : client.ClientSecretPost(settings.clientSecret);
      const execute = [client.enableNonRepudiationChecks];
      // Plain http only when explicitly enabled for a local provider (refused in production by config).
      if (settings.allowInsecureHttp) execute.push(client.allowInsecureRequests);
      const pending = client
        .discovery(new URL(settings.issuer), settings.clientId, { client_secret: settings.clientSecret }, clientAuth, {
          execute,
          timeout: settings.timeoutSeconds,
        })
        .then((config) => {
          config.timeout = settings.timeoutSeconds;
          return config;
        });
      const entry = { at: Date.now(), config: pending };
      discovered = entry;
      pending.catch((error: unknown) => {
        logger.error({ err: error, issuer: settings.issuer }, 'ID.me discovery failed');
        if (discovered === entry) discovered = undefined;
      });
    }
    return discovered.config.catch((error: unknown) => {
      throw discoveryError(error);
    });
  }

  return {
    async authorizationUrl({ state, nonce, codeChallenge }) {
      const config = await configuration();
      return client
        .buildAuthorizationUrl(config, {
          redirect_uri: settings.redirectUri,
          response_type: 'code',
          scope: settings.scopes.join(' '),
          state,
          nonce,
          code_challenge: codeChallenge,
          code_challenge_method: 'S256',
        })
        .toString();
    },

    async exchangeCode({ callbackQuery, state, nonce, codeVerifier }) {
      const config = await configuration();
      // The URL ID.me redirected to, as registered (the gateway may have stripped a path prefix).
      const currentUrl = new URL(settings.redirectUri);
      currentUrl.search = callbackQuery.toString();
      try {
        const tokens = await client.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: codeVerifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        if (!claims?.sub) throw Errors.badGateway('ID.me returned no id_token subject', 'IDME_INVALID_RESPONSE');
        const expiresIn = tokens.expiresIn();
        return {
          subject: claims.sub,
          accessToken: tokens.access_token,
          refreshToken: tokens.refresh_token ?? null,
          expiresAt: expiresIn === undefined ? null : new Date(Date.now() + expiresIn * 1000),
          scopes: (tokens.scope ?? settings.scopes.join(' ')).split(' ').filter(Boolean),
        };
      } catch (error) {
        throw classifyOidcError(error);
      }
    },

    async fetchAttributes(accessToken) {
      const config = await configuration();
      let response: Response;
      try {
        response = await client.fetchProtectedResource(config, accessToken, new URL(settings.attributesUrl), 'GET', null, new Headers({ accept: 'application/json' }));
      } catch (error) {
        const appError = classifyOidcError(error);
        throw appError.code === 'IDME_UNAVAILABLE' ? Errors.badGateway('ID.me attributes endpoint could not be reached', 'IDME_ATTRIBUTES_FAILED') : appError;
      }
      if (!response.ok) {
        throw Errors.badGateway(`ID.me attributes endpoint answered HTTP ${response.status}`, 'IDME_ATTRIBUTES_FAILED');
      }
      let body: unknown;
      try {
        body = await response.json();
      } catch {
        throw Errors.badGateway('ID.me attributes endpoint sent no JSON', 'IDME_ATTRIBUTES_FAILED');
      }
      const parsed = attributesPayloadSchema.safeParse(body);
      if (!parsed.success) {
        throw Errors.badGateway('ID.me attributes payload has an unexpected shape', 'IDME_ATTRIBUTES_FAILED');
      }
      return parsed.data;
    },

    async revokeToken(token, hint) {
      const config = await configuration();
      if (!config.serverMetadata().revocation_endpoint) return false;
      await client.tokenRevocation(config, token, { token_type_hint: hint });
      return true;
    },
  };
}
