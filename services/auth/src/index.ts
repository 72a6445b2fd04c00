import { createHash, timingSafeEqual, webcrypto } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { AppError, Errors } from '@nself/errors';

export const DEFAULT_SOURCE_ACCOUNT = 'primary';
const HASURA_CLAIMS = 'https://hasura.io/jwt/claims';
const SOURCE_ACCOUNT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** The env variables of auth, shared by every service's config schema. */
export const authEnv = {
  JWT_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  JWT_JWKS_URL: z.url().optional(),
  JWT_ISSUER: z.string().min(1).optional(),
  JWT_AUDIENCE: z.string().min(1).optional(),
  JWT_ADMIN_ROLES: z.string().default('admin'),
  ADMIN_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
};

export interface AuthConfig {
  jwtSecret?: string;
  jwksUrl?: string;
  issuer?: string;
  audience?: string;
  adminRoles?: string[];
  adminSecret?: string;
}

export function authConfigFromEnv(env: {
  JWT_SECRET?: string;
  JWT_JWKS_URL?: string;
  JWT_ISSUER?: string;
  JWT_AUDIENCE?: string;
  JWT_ADMIN_ROLES: string;
  ADMIN_SECRET?: string;
}): AuthConfig {
  return {
    jwtSecret: env.JWT_SECRET,
    jwksUrl: env.JWT_JWKS_URL,
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE,
    adminRoles: env.JWT_ADMIN_ROLES.split(',').map((r) => r.trim()).filter(Boolean),
    adminSecret: env.ADMIN_SECRET,
  };
}

/** Who is calling, from a verified token or the admin secret. */
export interface Principal {
  userId: string | null;
  roles: string[];
  isAdmin: boolean;
  /** The app (tenant) this caller belongs to; every row and key is scoped by it. */
  sourceAccountId: string;
  via: 'jwt' | 'admin-secret' | 'anonymous';
}

export interface Authenticator {
  /** Verifies a bearer token; throws AppError 401 (INVALID_TOKEN / TOKEN_EXPIRED) when it is not valid. */
  verifyToken(token: string): Promise<Principal>;
  /** Reads Authorization / x-admin-secret; null when the request carries no credentials at all. */
  authenticate(headers: IncomingHttpHeaders): Promise<Principal | null>;
  /** True when the given value equals the configured admin secret (constant time). */
  isAdminSecret(value: string | undefined): boolean;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function rolesOf(payload: JWTPayload, hasura: Record<string, unknown> | undefined): string[] {
  const roles = new Set<string>();
  const add = (value: unknown) => {
    if (typeof value === 'string' && value) roles.add(value);
    if (Array.isArray(value)) value.forEach(add);
  };
  add(payload.role);
  add(payload.roles);
  add(hasura?.['x-hasura-default-role']);
  add(hasura?.['x-hasura-allowed-roles']);
  add(hasura?.['x-hasura-role']);
  return [...roles];
}

function hasuraClaims(payload: JWTPayload): Record<string, unknown> | undefined {
  const raw = payload[HASURA_CLAIMS];
  if (typeof raw === 'string') {
    // Hasura's claims_format "stringified_json".
    try {
      return JSON.parse(raw) as Record<string, unknown>;
    } catch {
      throw Errors.unauthorized('Token Hasura claims are not valid JSON', 'INVALID_TOKEN');
    }
  }
  return raw && typeof raw === 'object' ? (raw as Record<string, unknown>) : undefined;
}

export function principalFromClaims(payload: JWTPayload, adminRoles: string[]): Principal {
  const hasura = hasuraClaims(payload);
  const userId = (hasura?.['x-hasura-user-id'] as string | undefined) ?? payload.sub ?? null;
  const account =
    (payload.source_account_id as string | undefined) ??
    (hasura?.['x-hasura-source-account-id'] as string | undefined) ??
    DEFAULT_SOURCE_ACCOUNT;
  if (!SOURCE_ACCOUNT_PATTERN.test(account)) {
    throw Errors.unauthorized('Token carries an invalid source_account_id', 'INVALID_TOKEN');
  }
  const roles = rolesOf(payload, hasura);
  return {
    userId: userId ? String(userId) : null,
    roles,
    isAdmin: roles.some((r) => adminRoles.includes(r)),
    sourceAccountId: account,
    via: 'jwt',
  };
}

export function createAuthenticator(config: AuthConfig): Authenticator {
  if (!config.jwtSecret && !config.jwksUrl) {
    throw new Error('auth needs JWT_SECRET (HS256) or JWT_JWKS_URL (RS256)');
  }
  const adminRoles = config.adminRoles?.length ? config.adminRoles : ['admin'];
  // Imported once: handed raw bytes, jose imports the key again on every verification (a third of its cost).
  const secretKey = config.jwtSecret
    ? webcrypto.subtle.importKey('raw', new TextEncoder().encode(config.jwtSecret), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify'])
    : undefined;
  const jwks: JWTVerifyGetKey | undefined = config.jwksUrl
    ? createRemoteJWKSet(new URL(config.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 600_000 })
    : undefined;
  const adminDigest = config.adminSecret ? digest(config.adminSecret) : undefined;

  const verifyOptions = {
    issuer: config.issuer,
    audience: config.audience,
    requiredClaims: ['exp'],
    clockTolerance: 5,
  };

  async function verifyToken(token: string): Promise<Principal> {
    try {
      const [headerPart] = token.split('.');
      const header = JSON.parse(Buffer.from(headerPart ?? '', 'base64url').toString('utf8')) as { alg?: unknown };
      // The algorithm decides the key, and each key is accepted with its own algorithm only, so an
      // RS256 public key can never be used as an HMAC secret (algorithm confusion) and "none" never passes.
      const { payload } =
        header.alg === 'HS256' && secretKey
          ? await jwtVerify(token, await secretKey, { ...verifyOptions, algorithms: ['HS256'] })
          : jwks
            ? await jwtVerify(token, jwks, { ...verifyOptions, algorithms: ['RS256', 'PS256', 'ES256'] })
            : await jwtVerify(token, (await secretKey)!, { ...verifyOptions, algorithms: ['HS256'] });
      return principalFromClaims(payload, adminRoles);
    } catch (error) {
      if (error instanceof AppError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw Errors.unauthorized('Token has expired', 'TOKEN_EXPIRED');
      throw Errors.unauthorized('Token is not valid', 'INVALID_TOKEN');
    }
  }

  function isAdminSecret(value: string | undefined): boolean {
    return Boolean(adminDigest && value && timingSafeEqual(digest(value), adminDigest));
  }

  async function authenticate(headers: IncomingHttpHeaders): Promise<Principal | null> {
    const secretHeader = headers['x-admin-secret'];
    if (typeof secretHeader === 'string') {
      if (!isAdminSecret(secretHeader)) throw Errors.unauthorized('Invalid admin secret', 'INVALID_ADMIN_SECRET');
      // The admin secret is held by the operator's own backend, which may act for any app and user.
      const account = headers['x-source-account-id'];
      const user = headers['x-user-id'];
      const sourceAccountId = typeof account === 'string' && account ? account : DEFAULT_SOURCE_ACCOUNT;
      if (!SOURCE_ACCOUNT_PATTERN.test(sourceAccountId)) {
        throw Errors.badRequest('INVALID_SOURCE_ACCOUNT', 'x-source-account-id is not a valid account id');
      }
      return {
        userId: typeof user === 'string' && user ? user : null,
        roles: ['admin'],
        isAdmin: true,
        sourceAccountId,
        via: 'admin-secret',
      };
    }
    const authorization = headers.authorization;
    if (!authorization) return null;
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!match?.[1]) throw Errors.unauthorized('Authorization header must be "Bearer <token>"', 'INVALID_TOKEN');
    return verifyToken(match[1]);
  }

  return { verifyToken, authenticate, isAdminSecret };
}

const principals = new WeakMap<Request, Principal>();

/** The principal that authenticate() attached to this request. */
export function getPrincipal(req: Request): Principal {
  const principal = principals.get(req);
  if (!principal) throw Errors.unauthorized();
  return principal;
}

export function findPrincipal(req: Request): Principal | undefined {
  return principals.get(req);
}

export interface AuthenticateOptions {
  /** Allow requests without credentials (principal via 'anonymous', no user). Off by default. */
  allowAnonymous?: boolean;
}

/** Express middleware: verifies credentials and attaches the principal; 401 when missing or invalid. */
export function authenticate(authenticator: Authenticator, options: AuthenticateOptions = {}): RequestHandler {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const principal = await authenticator.authenticate(req.headers);
    if (principal) {
      principals.set(req, principal);
    } else if (options.allowAnonymous) {
      principals.set(req, {
        userId: null,
        roles: ['anonymous'],
        isAdmin: false,
        sourceAccountId: DEFAULT_SOURCE_ACCOUNT,
        via: 'anonymous',
      });
    } else {
      throw Errors.unauthorized();
    }
    next();
  };
}

/** Express middleware after authenticate(): 403 unless the caller is an admin. */
export function requireAdmin(): RequestHandler {
  return (req, _res, next) => {
    if (!getPrincipal(req).isAdmin) throw Errors.forbidden('Admin role or admin secret required', 'ADMIN_REQUIRED');
    next();
  };
}

/** 403 unless the caller is that user or an admin. */
export function assertSelfOrAdmin(principal: Principal, userId: string): void {
  if (!principal.isAdmin && principal.userId !== userId) {
    throw Errors.forbidden('You may only access your own records', 'FORBIDDEN');
  }
}
