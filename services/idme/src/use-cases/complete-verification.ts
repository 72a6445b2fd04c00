import { AppError, Errors } from '@nself/errors';
import { sha256 } from '../crypto.js';
import type { IdmeDeps } from '../deps.js';
import { normalizeAttributesPayload } from '../groups.js';
import { resolveReturnUrl, withStatus, type CallbackStatus } from '../return-url.js';
import type { ConsumeFailure } from '../adapters/state-store.js';

export interface CallbackInput {
  /** The callback's query string as ID.me sent it (code, state, iss, or error). */
  query: URLSearchParams;
  /** The browser-binding cookie, if the browser sent it. */
  browserToken: string | undefined;
}

export interface CallbackResult {
  /** The app's return URL with only `?idme=<status>` added: no personal data reaches the browser. */
  redirectTo: string;
  status: CallbackStatus;
  userId: string;
  sourceAccountId: string;
  verificationId?: string;
}

const STATE_FAILURES: Record<ConsumeFailure, AppError> = {
  unknown: Errors.badRequest('STATE_UNKNOWN', 'The state parameter was not issued by this service'),
  replayed: Errors.badRequest('STATE_REPLAYED', 'This authorization response was already used; start the verification again'),
  expired: Errors.badRequest('STATE_EXPIRED', 'The verification took too long; start it again'),
  browser_mismatch: Errors.badRequest('STATE_MISMATCH', 'The state belongs to a verification started in another browser'),
};

function single(query: URLSearchParams, name: string): string | undefined {
  const values = query.getAll(name);
  if (values.length > 1) throw Errors.badRequest('AUTHORIZATION_RESPONSE_INVALID', `The callback carries "${name}" more than once`);
  return values[0] || undefined;
}

/**
 * The OAuth callback: consumes the state (single use, this browser, not expired), redeems the code with
 * the PKCE verifier, validates the id_token (signature against ID.me's JWKS, issuer, audience, expiry,
 * nonce), reads group status and attributes, and stores everything in one transaction. Any refusal
 * throws a 4xx AppError before anything about the user is written.
 */
export async function completeVerification(deps: IdmeDeps, input: CallbackInput): Promise<CallbackResult> {
  const started = performance.now();
  try {
    const result = await run(deps, input);
    deps.metrics.callbacks.inc({ result: result.status });
    deps.metrics.callbackSeconds.observe({ result: result.status }, (performance.now() - started) / 1000);
    return result;
  } catch (error) {
    const code = error instanceof AppError ? error.code : 'INTERNAL_ERROR';
    deps.metrics.callbacks.inc({ result: code });
    deps.metrics.callbackSeconds.observe({ result: 'refused' }, (performance.now() - started) / 1000);
    if (error instanceof AppError && error.status < 500) {
      deps.logger.warn({ code, detail: error.message }, 'ID.me callback refused');
    }
    throw error;
  }
}

async function run(deps: IdmeDeps, { query, browserToken }: CallbackInput): Promise<CallbackResult> {
  const state = single(query, 'state');
  if (!state) throw Errors.badRequest('STATE_MISSING', 'The callback has no state parameter');
  if (!browserToken) {
    throw Errors.badRequest('STATE_COOKIE_MISSING', 'The browser did not send the verification cookie; start again in this browser');
  }
  const now = deps.now();
  const stateHash = sha256(state);
  const consumed = await deps.states.consume(stateHash, sha256(browserToken), now);
  if (typeof consumed === 'string') throw STATE_FAILURES[consumed];

  const returnTo = consumed.returnTo ?? resolveReturnUrl(undefined, deps.config.allowedReturnUrls);
  const base = { userId: consumed.userId, sourceAccountId: consumed.sourceAccountId };

  const providerError = single(query, 'error');
  if (providerError) {
    // The user cancelled or ID.me could not complete: back to the app with the outcome only.
    const status: CallbackStatus = providerError === 'access_denied' ? 'denied' : 'error';
    deps.logger.info({ error: providerError }, 'ID.me returned an authorization error');
    return { ...base, status, redirectTo: withStatus(returnTo, status) };
  }
  if (!single(query, 'code')) throw Errors.badRequest('CODE_MISSING', 'The callback has neither a code nor an error');

  const codeVerifier = deps.stateBox.decrypt(consumed.codeVerifierEnc, stateHash);
  if (!codeVerifier) {
    throw Errors.badRequest('PKCE_VERIFIER_MISSING', 'The PKCE code verifier of this verification is missing or unreadable; start again');
  }

  const tokens = await deps.provider.exchangeCode({ callbackQuery: query, state, nonce: consumed.nonce, codeVerifier });
  const payload = await deps.provider.fetchAttributes(tokens.accessToken);
  const { groups, attributes } = normalizeAttributesPayload(payload, { storeAttributes: deps.config.storeAttributes, now });

  const box = deps.tokenBox;
  const saved = await deps.verifications.save({
    ...base,
    subject: tokens.subject,
    scopes: tokens.scopes,
    accessTokenEnc: box ? box.encrypt(tokens.accessToken, tokenAad(base.sourceAccountId, base.userId, 'access')) : null,
    refreshTokenEnc: box && tokens.refreshToken ? box.encrypt(tokens.refreshToken, tokenAad(base.sourceAccountId, base.userId, 'refresh')) : null,
    tokenExpiresAt: box ? tokens.expiresAt : null,
    groups,
    attributes,
    badges: deps.badges,
    uniqueIdentity: deps.config.uniqueIdentity,
    now,
  });

  if (saved.status === 'verified') {
    try {
      await deps.events.publish(
        'idme.verified',
        { verificationId: saved.verificationId, groups: saved.verifiedGroups },
        { sourceAccountId: base.sourceAccountId, userId: base.userId },
      );
    } catch (error) {
      // The verification is stored either way; the event is what is lost, so it is loud in logs/metrics.
      deps.metrics.eventFailures.inc({ type: 'idme.verified' });
      deps.logger.error({ err: error, verificationId: saved.verificationId }, 'publishing idme.verified failed');
    }
  }
  return { ...base, status: saved.status, verificationId: saved.verificationId, redirectTo: withStatus(returnTo, saved.status) };
}

/** The additional data a stored token is sealed with (it cannot be moved to another user's row). */
export function tokenAad(sourceAccountId: string, userId: string, kind: 'access' | 'refresh'): string {
  return `${sourceAccountId}:${userId}:${kind}`;
}
