import type { PrismaClient } from '@nself/db';

export interface StoredState {
  stateHash: string;
  sourceAccountId: string;
  userId: string;
  codeVerifierEnc: string;
  nonce: string;
  returnTo: string | null;
}

export type ConsumeFailure = 'unknown' | 'replayed' | 'expired' | 'browser_mismatch';

/**
 * Server-side OAuth state: keyed by a hash of `state`, bound to the browser by a hash of its cookie,
 * single use (consumed atomically), with an expiry. The PKCE verifier and nonce stay here.
 */
export class StateStore {
  constructor(private readonly prisma: PrismaClient) {}

  async create(row: StoredState & { browserHash: string; expiresAt: Date }): Promise<void> {
    await this.prisma.idmeOauthState.create({ data: row });
  }

  /** Marks the state used in one statement; on failure says why (replay, expiry, other browser, unknown). */
  async consume(stateHash: string, browserHash: string, now: Date): Promise<StoredState | ConsumeFailure> {
    const [row] = await this.prisma.idmeOauthState.updateManyAndReturn({
      where: { stateHash, browserHash, consumedAt: null, expiresAt: { gt: now } },
      data: { consumedAt: now },
    });
    if (row) {
      return {
        stateHash: row.stateHash,
        sourceAccountId: row.sourceAccountId,
        userId: row.userId,
        codeVerifierEnc: row.codeVerifierEnc,
        nonce: row.nonce,
        returnTo: row.returnTo,
      };
    }
    const existing = await this.prisma.idmeOauthState.findUnique({ where: { stateHash } });
    if (!existing) return 'unknown';
    if (existing.browserHash !== browserHash) return 'browser_mismatch';
    if (existing.consumedAt) return 'replayed';
    return 'expired';
  }

  /** Drops states that expired more than `graceMs` ago (kept a little while to tell "expired" from "unknown"). */
  async purgeExpired(now: Date, graceMs = 24 * 3600_000): Promise<number> {
    const { count } = await this.prisma.idmeOauthState.deleteMany({
      where: { expiresAt: { lt: new Date(now.getTime() - graceMs) } },
    });
    return count;
  }
}
