import type { Prisma, PrismaClient } from '@nself/db';
import { Errors } from '@nself/errors';
import type { BadgeCatalog } from '../badges.js';
import { uuidv7 } from '../crypto.js';
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
   * Replaces a user's verification, groups, badges and attributes in one transaction. This is the
   * callback's hot path, so it takes few round trips: lock the identity, one look-up for both the
   * identity check and an existing record, one delete of old details (only when there is a record),
   * and one statement that upserts the verification and inserts its groups, badges and attributes.
   */
  async save(input: SaveVerificationInput): Promise<SavedVerification> {
    const { sourceAccountId, userId, now } = input;
    const verifiedGroups = input.groups.filter((g) => g.verified).map((g) => g.group);
    const status = verifiedGroups.length ? 'verified' : 'unverified';
    const expiry = (group: string) => {
      const days = input.badges.forGroup(group)?.expiresAfterDays;
      return days ? new Date(now.getTime() + days * DAY_MS).toISOString() : null;
    };
    const at = now.toISOString();
    const groups = input.groups.map((g) => ({
      id: uuidv7(),
      group: g.group,
      subgroups: g.subgroups,
      verified: g.verified,
      verified_at: g.verified ? at : null,
      expires_at: g.verified ? expiry(g.group) : null,
    }));
    const badges = verifiedGroups.flatMap((group) => {
      const badge = input.badges.forGroup(group);
      return badge
        ? [{ id: uuidv7(), group, name: badge.name, icon: badge.icon, color: badge.color, display_order: badge.order, expires_at: expiry(group) }]
        : [];
    });
    const attributes = input.attributes.map((a) => ({ id: uuidv7(), handle: a.handle, name: a.name, value: a.value }));

    return this.prisma.$transaction(async (tx) => {
      let hadRecord = true;
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
      }
      if (hadRecord) await this.clearDetailsOf(tx, sourceAccountId, userId);
      const [row] = await tx.$queryRaw<{ id: string }[]>`
        WITH v AS (
          INSERT INTO idme_verifications (id, source_account_id, user_id, idme_subject, status, scopes, access_token_enc,
                                          refresh_token_enc, token_expires_at, verified_at, revoked_at, updated_at)
          VALUES (${uuidv7()}::uuid, ${sourceAccountId}, ${userId}, ${input.subject}, ${status}, ${input.scopes}::text[],
                  ${input.accessTokenEnc}, ${input.refreshTokenEnc}, ${input.tokenExpiresAt?.toISOString() ?? null}::timestamptz,
                  ${status === 'verified' ? at : null}::timestamptz, NULL, ${at}::timestamptz)
          ON CONFLICT (source_account_id, user_id) DO UPDATE SET
            idme_subject = EXCLUDED.idme_subject, status = EXCLUDED.status, scopes = EXCLUDED.scopes,
            access_token_enc = EXCLUDED.access_token_enc, refresh_token_enc = EXCLUDED.refresh_token_enc,
            token_expires_at = EXCLUDED.token_expires_at, verified_at = EXCLUDED.verified_at, revoked_at = NULL,
            updated_at = EXCLUDED.updated_at
          RETURNING id
        ),
        g AS (
          INSERT INTO idme_groups (id, source_account_id, verification_id, user_id, "group", subgroups, verified, verified_at, expires_at, updated_at)
          SELECT r.id, ${sourceAccountId}, v.id, ${userId}, r."group", r.subgroups, r.verified, r.verified_at, r.expires_at, ${at}::timestamptz
          FROM v, jsonb_to_recordset(${JSON.stringify(groups)}::jsonb)
            AS r(id uuid, "group" text, subgroups text[], verified boolean, verified_at timestamptz, expires_at timestamptz)
        ),
        b AS (
          INSERT INTO idme_badges (id, source_account_id, verification_id, user_id, "group", name, icon, color, display_order, expires_at)
          SELECT r.id, ${sourceAccountId}, v.id, ${userId}, r."group", r.name, r.icon, r.color, r.display_order, r.expires_at
          FROM v, jsonb_to_recordset(${JSON.stringify(badges)}::jsonb)
            AS r(id uuid, "group" text, name text, icon text, color text, display_order integer, expires_at timestamptz)
        ),
        a AS (
          INSERT INTO idme_attributes (id, source_account_id, verification_id, user_id, handle, name, value, updated_at)
          SELECT r.id, ${sourceAccountId}, v.id, ${userId}, r.handle, r.name, r.value, ${at}::timestamptz
          FROM v, jsonb_to_recordset(${JSON.stringify(attributes)}::jsonb) AS r(id uuid, handle text, name text, value text)
        )
        SELECT id::text AS id FROM v`;
      if (!row) throw new Error('upserting the verification returned no row');
      return { verificationId: row.id, status, verifiedGroups };
    });
  }

  /** Deletes the groups, badges and attributes of a user's verification in one statement. */
  private async clearDetailsOf(tx: Tx, sourceAccountId: string, userId: string): Promise<void> {
    await tx.$executeRaw`
      WITH target AS (SELECT id FROM idme_verifications WHERE source_account_id = ${sourceAccountId} AND user_id = ${userId}),
           badges AS (DELETE FROM idme_badges WHERE verification_id IN (SELECT id FROM target)),
           groups AS (DELETE FROM idme_groups WHERE verification_id IN (SELECT id FROM target))
      DELETE FROM idme_attributes WHERE verification_id IN (SELECT id FROM target)`;
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
