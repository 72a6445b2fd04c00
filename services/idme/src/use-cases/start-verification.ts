import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import { randomToken, sha256 } from '../crypto.js';
import type { IdmeDeps } from '../deps.js';
import { resolveReturnUrl } from '../return-url.js';

/** A browser-binding cookie value this service issued: 32 random bytes, base64url. */
export const BROWSER_TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export const startVerificationInput = z.object({
  returnTo: z.string().max(2048).optional(),
  /** The browser's existing binding cookie, reused so parallel tabs keep working. */
  browserToken: z.string().optional(),
});

export interface StartedVerification {
  authorizationUrl: string;
  /** The value of the httpOnly cookie that binds this flow to the browser. */
  browserToken: string;
  expiresInSeconds: number;
}

const PURGE_EVERY_MS = 60_000;
let lastPurge = 0;

/**
 * Starts the authorization-code flow for the calling user: a fresh state, nonce and PKCE verifier
 * (S256 challenge) kept server-side, bound to the browser, single use and short-lived.
 */
export async function startVerification(deps: IdmeDeps, principal: Principal, rawInput: unknown): Promise<StartedVerification> {
  const input = parseInput(startVerificationInput, rawInput);
  if (!principal.userId) {
    throw Errors.badRequest('USER_REQUIRED', 'Starting a verification needs a user (a user token, or x-user-id with the admin secret)');
  }
  const returnTo = resolveReturnUrl(input.returnTo, deps.config.allowedReturnUrls);
  const browserToken =
    input.browserToken && BROWSER_TOKEN_PATTERN.test(input.browserToken) ? input.browserToken : randomToken(32);

  const state = randomToken(32);
  const nonce = randomToken(32);
  const codeVerifier = randomToken(32);
  const stateHash = sha256(state);
  const now = deps.now();
  const ttl = deps.config.stateTtlSeconds;

  // Discovery first: when ID.me cannot be reached nothing is stored.
  const authorizationUrl = await deps.provider.authorizationUrl({ state, nonce, codeChallenge: sha256(codeVerifier) });
  await deps.states.create({
    stateHash,
    sourceAccountId: principal.sourceAccountId,
    userId: principal.userId,
    browserHash: sha256(browserToken),
    codeVerifierEnc: deps.stateBox.encrypt(codeVerifier, stateHash),
    nonce,
    returnTo,
    expiresAt: new Date(now.getTime() + ttl * 1000),
  });

  if (now.getTime() - lastPurge > PURGE_EVERY_MS) {
    lastPurge = now.getTime();
    void deps.states.purgeExpired(now).catch((error: unknown) => deps.logger.warn({ err: error }, 'purging expired OAuth states failed'));
  }
  return { authorizationUrl, browserToken, expiresInSeconds: ttl };
}
