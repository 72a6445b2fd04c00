import { assertSelfOrAdmin, type Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import type { VerificationWithDetails } from '../adapters/verification-repository.js';
import type { IdmeDeps } from '../deps.js';
import { tokenAad } from './complete-verification.js';

export const userIdInput = z.object({ userId: z.string().min(1).max(255) });

export interface GroupView {
  group: string;
  subgroups: string[];
  verified: boolean;
  /** Verified and not past its expiry. */
  active: boolean;
  verifiedAt: string | null;
  expiresAt: string | null;
}

export interface BadgeView {
  group: string;
  name: string;
  icon: string | null;
  color: string | null;
  order: number;
  expiresAt: string | null;
  active: boolean;
}

export interface VerificationView {
  userId: string;
  /** verified | unverified | revoked | expired (verified once, every group now past its expiry). */
  status: string;
  verifiedAt: string | null;
  revokedAt: string | null;
  updatedAt: string;
  scopes: string[];
  groups: GroupView[];
  badges: BadgeView[];
  attributes: { handle: string; name: string; value: string | null }[];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);
const live = (expiresAt: Date | null, now: Date) => !expiresAt || expiresAt.getTime() > now.getTime();

export function toView(row: VerificationWithDetails, now: Date): VerificationView {
  const groups = row.groups.map((g) => ({
    group: g.group,
    subgroups: g.subgroups,
    verified: g.verified,
    active: g.verified && live(g.expiresAt, now),
    verifiedAt: iso(g.verifiedAt),
    expiresAt: iso(g.expiresAt),
  }));
  const status = row.status === 'verified' && !groups.some((g) => g.active) ? 'expired' : row.status;
  return {
    userId: row.userId,
    status,
    verifiedAt: iso(row.verifiedAt),
    revokedAt: iso(row.revokedAt),
    updatedAt: row.updatedAt.toISOString(),
    scopes: row.scopes,
    groups,
    badges: row.badges.map((b) => ({
      group: b.group,
      name: b.name,
      icon: b.icon,
      color: b.color,
      order: b.displayOrder,
      expiresAt: iso(b.expiresAt),
      active: live(b.expiresAt, now),
    })),
    attributes: row.attributes.map((a) => ({ handle: a.handle, name: a.name, value: a.value })),
  };
}

async function load(deps: IdmeDeps, principal: Principal, rawInput: unknown): Promise<VerificationWithDetails> {
  const { userId } = parseInput(userIdInput, rawInput);
  // Authorization before lookup: another user learns nothing, not even whether a record exists.
  assertSelfOrAdmin(principal, userId);
  const row = await deps.verifications.find(principal.sourceAccountId, userId);
  if (!row) throw Errors.notFound('Verification', 'VERIFICATION_NOT_FOUND');
  return row;
}

/** A user's verification (that user or an admin only). */
export async function getVerification(deps: IdmeDeps, principal: Principal, rawInput: unknown): Promise<VerificationView> {
  return toView(await load(deps, principal, rawInput), deps.now());
}

/** A user's groups, each with its badge (that user or an admin only). */
export async function getGroups(
  deps: IdmeDeps,
  principal: Principal,
  rawInput: unknown,
): Promise<{ userId: string; status: string; groups: (GroupView & { badge: BadgeView | null })[] }> {
  const view = toView(await load(deps, principal, rawInput), deps.now());
  return {
    userId: view.userId,
    status: view.status,
    groups: view.groups.map((g) => ({ ...g, badge: view.badges.find((b) => b.group === g.group) ?? null })),
  };
}

/**
 * Revokes a user's verification (that user or an admin): groups, badges, attributes and tokens are
 * removed, the tokens are revoked at ID.me when it offers that, and `idme.revoked` is published.
 */
export async function revokeVerification(
  deps: IdmeDeps,
  principal: Principal,
  rawInput: unknown,
): Promise<{ userId: string; status: 'revoked'; revokedAt: string; revokedAtIdme: boolean }> {
  const { userId } = parseInput(userIdInput, rawInput);
  assertSelfOrAdmin(principal, userId);
  const now = deps.now();
  const revoked = await deps.verifications.revoke(principal.sourceAccountId, userId, now);
  if (!revoked) throw Errors.notFound('Verification', 'VERIFICATION_NOT_FOUND');
  let revokedAtIdme = false;
  const box = deps.tokenBox;
  if (box) {
    const tokens = [
      { token: box.decrypt(revoked.refreshTokenEnc, tokenAad(revoked.sourceAccountId, userId, 'refresh')), hint: 'refresh_token' as const },
      { token: box.decrypt(revoked.accessTokenEnc, tokenAad(revoked.sourceAccountId, userId, 'access')), hint: 'access_token' as const },
    ];
    for (const { token, hint } of tokens) {
      if (!token) continue;
      try {
        revokedAtIdme = (await deps.provider.revokeToken(token, hint)) || revokedAtIdme;
      } catch (error) {
        // Locally revoked regardless; ID.me's tokens expire on their own (access tokens in 5 minutes).
        deps.logger.warn({ err: error, hint }, 'revoking the token at ID.me failed');
      }
    }
  }
  await publishRevoked(deps, revoked);
  return { userId, status: 'revoked', revokedAt: now.toISOString(), revokedAtIdme };
}

export async function publishRevoked(
  deps: IdmeDeps,
  revoked: { verificationId: string; sourceAccountId: string; userId: string },
): Promise<void> {
  try {
    await deps.events.publish('idme.revoked', { verificationId: revoked.verificationId }, {
      sourceAccountId: revoked.sourceAccountId,
      userId: revoked.userId,
    });
  } catch (error) {
    deps.metrics.eventFailures.inc({ type: 'idme.revoked' });
    deps.logger.error({ err: error, verificationId: revoked.verificationId }, 'publishing idme.revoked failed');
  }
}
