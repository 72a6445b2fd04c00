import type { Prisma, PrismaClient } from '@nself/db';
import { Errors } from '@nself/errors';
import type { BadgeCatalog } from '../badges.js';
import type { NormalizedAttribute, NormalizedGroup } from '../groups.js';

type Tx = Prisma.TransactionClient;

export interface SaveVerificationInput {
  sourceAccountId: string;
  userId: string;
  subject: string;
  scopes: string[];
  accessTokenEnc: string | null;
  refreshTokenEnc: string | null;
  tokenExpiresAt: Date | null;
  groups: NormalizedGroup[];
  attributes: NormalizedAttribute[];
  badges: BadgeCatalog;
  /** Refuse when this ID.me identity already backs another user of the same app. */
  uniqueIdentity: boolean;
  now: Date;
}

export interface SavedVerification {
  verificationId: string;
  status: 'verified' | 'unverified';
  verifiedGroups: string[];
}

export interface RevokedVerification {
  verificationId: string;
  sourceAccountId: string;
  userId: string;
  accessTokenEnc: string | null;
  refreshTokenEnc: string | null;
}

const DAY_MS = 86_400_000;

const withDetails = {
  groups: { orderBy: { group: 'asc' } },
  badges: { orderBy: [{ displayOrder: 'asc' }, { group: 'asc' }] },
  attributes: { orderBy: { handle: 'asc' } },
} satisfies Prisma.IdmeVerificationInclude;

export type VerificationWithDetails = Prisma.IdmeVerificationGetPayload<{ include: typeof withDetails }>;

export class VerificationRepository {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * Replaces a user's verification, groups, badges and attributes in one transaction, with as few
   * statements as possible (this is the callback's hot path): lock the identity, one look-up for both
   * the identity check and an existing record, the upsert, one delete of old details when there were
   * any, and one insert per table.
   */
  async save(input: SaveVerificationInput): Promise<SavedVerification> {
    const { sourceAccountId, userId, now } = input;
    const verifiedGroups = input.groups.filter((g) => g.verified).map((g) => g.group);
    const status = verifiedGroups.length ? 'verified' : 'unverified';
    const expiry = (group: string) => {
      const days = input.badges.forGroup(group)?.expiresAfterDays;
      return days ? new Date(now.getTime() + days * DAY_MS) : null;
    };
    return this.prisma.$transaction(async (tx) => {
      let hadRecord: boolean;
      if (input.uniqueIdentity) {
        // Serializes concurrent links of the same identity within the app; the look-up runs after it.
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${`idme:${sourceAccountId}:${input.subject}`}, 0))`;
        const rows = await tx.idmeVerification.findMany({
          where: { sourceAccountId, OR: [{ userId }, { idmeSubject: input.subject, status: { not: 'revoked' } }] },
          select: { userId: true },
        });
        if (rows.some((r) => r.userId !== userId)) {
          throw Errors.conflict('IDME_IDENTITY_IN_USE', 'This ID.me identity already verifies another user of this app');
        }
        hadRecord = rows.length > 0;
      } else {
        hadRecord = (await tx.idmeVerification.count({ where: { sourceAccountId, userId } })) > 0;
      }
      const fields = {
        idmeSubject: input.subject,
        status,
        scopes: input.scopes,
        accessTokenEnc: input.accessTokenEnc,
        refreshTokenEnc: input.refreshTokenEnc,
        tokenExpiresAt: input.tokenExpiresAt,
        verifiedAt: status === 'verified' ? now : null,
      };
      const { id: verificationId } = await tx.idmeVerification.upsert({
        where: { sourceAccountId_userId: { sourceAccountId, userId } },
        create: { sourceAccountId, userId, ...fields },
        update: { ...fields, revokedAt: null },
        select: { id: true },
      });
      if (hadRecord) await this.clearDetails(tx, verificationId);
      if (input.groups.length) {
        await tx.idmeGroup.createMany({
          data: input.groups.map((g) => ({
            sourceAccountId,
            verificationId,
            userId,
            group: g.group,
            subgroups: g.subgroups,
            verified: g.verified,
            verifiedAt: g.verified ? now : null,
            expiresAt: g.verified ? expiry(g.group) : null,
          })),
        });
      }
      const badges = verifiedGroups.flatMap((group) => {
        const badge = input.badges.forGroup(group);
        return badge
          ? [
              {
                sourceAccountId,
                verificationId,
                userId,
                group,
                name: badge.name,
                icon: badge.icon,
                color: badge.color,
                displayOrder: badge.order,
                expiresAt: expiry(group),
              },
            ]
          : [];
      });
      if (badges.length) await tx.idmeBadge.createMany({ data: badges });
      if (input.attributes.length) {
        await tx.idmeAttribute.createMany({
          data: input.attributes.map((a) => ({ sourceAccountId, verificationId, userId, handle: a.handle, name: a.name, value: a.value })),
        });
      }
      return { verificationId, status, verifiedGroups };
    });
  }

  /** Deletes a verification's groups, badges and attributes in one statement. */
  private async clearDetails(tx: Tx, verificationId: string): Promise<void> {
    await tx.$executeRaw`
      WITH badges AS (DELETE FROM idme_badges WHERE verification_id = ${verificationId}::uuid),
           groups AS (DELETE FROM idme_groups WHERE verification_id = ${verificationId}::uuid)
      DELETE FROM idme_attributes WHERE verification_id = ${verificationId}::uuid`;
  }

  find(sourceAccountId: string, userId: string): Promise<VerificationWithDetails | null> {
    return this.prisma.idmeVerification.findUnique({
      where: { sourceAccountId_userId: { sourceAccountId, userId } },
      include: withDetails,
    });
  }

  /** Marks the verification revoked and drops its tokens, groups, badges and attributes. */
  async revoke(sourceAccountId: string, userId: string, now: Date): Promise<RevokedVerification | null> {
    return this.prisma.$transaction(async (tx) => {
      const found = await tx.idmeVerification.findUnique({ where: { sourceAccountId_userId: { sourceAccountId, userId } } });
      if (!found) return null;
      return this.revokeRow(tx, found, now);
    });
  }

  /** Revokes every live verification backed by an ID.me identity (webhook), inside the caller's transaction. */
  async revokeBySubject(tx: Tx, subject: string, now: Date): Promise<RevokedVerification[]> {
    const rows = await tx.idmeVerification.findMany({ where: { idmeSubject: subject, status: { not: 'revoked' } } });
    const revoked: RevokedVerification[] = [];
    for (const row of rows) revoked.push(await this.revokeRow(tx, row, now));
    return revoked;
  }

  /** Withdraws one group (and its badge) from every verification of an identity (webhook). */
  async withdrawGroup(tx: Tx, subject: string, group: string): Promise<{ verificationId: string; sourceAccountId: string; userId: string }[]> {
    const rows = await tx.idmeVerification.findMany({ where: { idmeSubject: subject, status: { not: 'revoked' } } });
    const changed: { verificationId: string; sourceAccountId: string; userId: string }[] = [];
    for (const row of rows) {
      const { count } = await tx.idmeGroup.updateMany({
        where: { verificationId: row.id, group, verified: true },
        data: { verified: false, verifiedAt: null, expiresAt: null },
      });
      await tx.idmeBadge.deleteMany({ where: { verificationId: row.id, group } });
      if (!count) continue;
      const remaining = await tx.idmeGroup.count({ where: { verificationId: row.id, verified: true } });
      if (!remaining) await tx.idmeVerification.update({ where: { id: row.id }, data: { status: 'unverified', verifiedAt: null } });
      changed.push({ verificationId: row.id, sourceAccountId: row.sourceAccountId, userId: row.userId });
    }
    return changed;
  }

  private async revokeRow(
    tx: Tx,
    row: { id: string; sourceAccountId: string; userId: string; accessTokenEnc: string | null; refreshTokenEnc: string | null },
    now: Date,
  ): Promise<RevokedVerification> {
    await this.clearDetails(tx, row.id);
    await tx.idmeVerification.update({
      where: { id: row.id },
      data: { status: 'revoked', revokedAt: now, verifiedAt: null, accessTokenEnc: null, refreshTokenEnc: null, tokenExpiresAt: null },
    });
    return {
      verificationId: row.id,
      sourceAccountId: row.sourceAccountId,
      userId: row.userId,
      accessTokenEnc: row.accessTokenEnc,
      refreshTokenEnc: row.refreshTokenEnc,
    };
  }

  async stats(sourceAccountId: string | undefined): Promise<{ byStatus: Record<string, number>; verifiedGroups: Record<string, number> }> {
    const where = sourceAccountId ? { sourceAccountId } : {};
    const statuses = await this.prisma.idmeVerification.groupBy({ by: ['status'], where, _count: { _all: true } });
    const groups = await this.prisma.idmeGroup.groupBy({ by: ['group'], where: { ...where, verified: true }, _count: { _all: true } });
    return {
      byStatus: Object.fromEntries(statuses.map((s) => [s.status, s._count._all])),
      verifiedGroups: Object.fromEntries(groups.map((g) => [g.group, g._count._all])),
    };
  }
}
