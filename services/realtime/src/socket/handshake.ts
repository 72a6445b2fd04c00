import { isIP } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { z } from 'zod';
import { AppError, Errors } from '@nself/errors';
import { DEFAULT_SOURCE_ACCOUNT, type Authenticator, type Principal } from '@nself/auth';

/** Client-declared device details (auth.device), kept on the connection row. */
const deviceSchema = z
  .record(z.string().max(64), z.union([z.string().max(256), z.number(), z.boolean()]))
  .refine((d) => Object.keys(d).length <= 16);

export function readDevice(value: unknown): Record<string, unknown> {
  const parsed = deviceSchema.safeParse(value);
  return parsed.success ? parsed.data : {};
}

/** `exp` of a token that has already been verified (ms), or null. */
export function tokenExpiry(token: string): number | null {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

function isPrivateAddress(address: string): boolean {
  const a = address.replace(/^::ffff:/, '');
  if (isIP(a) === 4) {
    return a.startsWith('127.') || a.startsWith('10.') || a.startsWith('192.168.') || /^172\.(1[6-9]|2\d|3[01])\./.test(a);
  }
  return a === '::1' || a.startsWith('fc') || a.startsWith('fd');
}

/** The client's address: the first X-Forwarded-For hop when the peer is our gateway (loopback/private). */
export function clientAddress(peer: string, headers: IncomingHttpHeaders): string {
  const forwarded = headers['x-forwarded-for'];
  if (typeof forwarded === 'string' && isPrivateAddress(peer)) {
    const first = forwarded.split(',')[0]?.trim();
    if (first) return first.replace(/^::ffff:/, '');
  }
  return peer.replace(/^::ffff:/, '');
}

export function handshakeToken(auth: unknown, headers: IncomingHttpHeaders): string | undefined {
  const fromAuth = (auth as { token?: unknown } | undefined)?.token;
  if (typeof fromAuth === 'string' && fromAuth) return fromAuth.replace(/^Bearer\s+/i, '');
  const header = headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)$/i.exec(header) : null;
  return match?.[1];
}

export interface HandshakeResult {
  principal: Principal;
  expiresAt: number | null;
}

/**
 * Authenticates a handshake: a verified JWT in auth.token (or an Authorization header), or — only when
 * REALTIME_ALLOW_ANONYMOUS is on and no token is given — an anonymous, read-only principal. A token
 * that is present but invalid is always refused, even when anonymous access is allowed.
 */
export async function authenticateHandshake(
  authenticator: Authenticator,
  token: string | undefined,
  allowAnonymous: boolean,
): Promise<HandshakeResult> {
  if (!token) {
    if (!allowAnonymous) throw Errors.unauthorized('A token is required (auth.token)', 'UNAUTHORIZED');
    return {
      principal: { userId: null, roles: ['anonymous'], isAdmin: false, sourceAccountId: DEFAULT_SOURCE_ACCOUNT, via: 'anonymous' },
      expiresAt: null,
    };
  }
  const principal = await authenticator.verifyToken(token);
  if (!principal.userId) throw Errors.unauthorized('The token names no user (sub)', 'INVALID_TOKEN');
  return { principal, expiresAt: tokenExpiry(token) };
}

/** The Error handed to Socket.IO's next(): the client sees message and data.code in connect_error. */
export function handshakeError(error: unknown): Error & { data: { code: string; message: string } } {
  const appError = error instanceof AppError ? error : new AppError('INTERNAL_ERROR', 500, 'Authentication failed');
  const err = new Error(appError.message) as Error & { data: { code: string; message: string } };
  err.data = { code: appError.code, message: appError.message };
  return err;
}
