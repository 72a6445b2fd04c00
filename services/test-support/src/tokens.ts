import jwt from 'jsonwebtoken';

/** The HS256 secret and admin secret test apps are configured with. */
export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-at-least-32-chars';
export const TEST_ADMIN_SECRET = 'test-admin-secret-0123456789';

export interface TestTokenOptions {
  sub?: string;
  roles?: string[];
  sourceAccountId?: string;
  /** Put the user and roles in Hasura's claims namespace instead of sub/roles. */
  hasura?: boolean;
  expiresInSeconds?: number;
  secret?: string;
  extra?: Record<string, unknown>;
}

/** Signs a token the way an nself/Hasura auth service would (jsonwebtoken, not the verifier's library). */
export function signTestToken(options: TestTokenOptions = {}): string {
  const { sub = 'user-1', roles = ['user'], sourceAccountId, hasura = false, expiresInSeconds = 600 } = options;
  const claims: Record<string, unknown> = { ...options.extra };
  if (hasura) {
    claims['https://hasura.io/jwt/claims'] = {
      'x-hasura-user-id': sub,
      'x-hasura-default-role': roles[0] ?? 'user',
      'x-hasura-allowed-roles': roles,
    };
  } else {
    claims.sub = sub;
    claims.roles = roles;
  }
  if (sourceAccountId) claims.source_account_id = sourceAccountId;
  return jwt.sign(claims, options.secret ?? TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: expiresInSeconds });
}

export function bearer(options: TestTokenOptions = {}): { authorization: string } {
  return { authorization: `Bearer ${signTestToken(options)}` };
}
