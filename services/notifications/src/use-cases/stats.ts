import type { PrismaClient } from '@nself/db';
import { parseInput } from '@nself/errors';
import { z } from 'zod';

const querySchema = z.object({ hours: z.coerce.number().int().min(1).max(24 * 90).default(24) });

/** Delivery statistics of one app over a window: by channel and status, by provider, and queue depths. */
export async function getStats(
  prisma: PrismaClient,
  sourceAccountId: string,
  query: unknown,
  queueDepths?: () => Promise<Record<string, number>>,
) {
  const { hours } = parseInput(querySchema, query);
  const since = new Date(Date.now() - hours * 3600_000);
  const [byStatus, byProvider, latency] = await Promise.all([
    prisma.$queryRawUnsafe<{ channel: string; status: string; count: bigint }[]>(
      `SELECT channel, status, count(*) AS count FROM notifications
        WHERE source_account_id = $1 AND created_at >= $2 GROUP BY channel, status`,
      sourceAccountId,
      since,
    ),
    prisma.$queryRawUnsafe<{ provider: string | null; status: string; count: bigint }[]>(
      `SELECT provider, status, count(*) AS count FROM notification_queue
        WHERE source_account_id = $1 AND created_at >= $2 GROUP BY provider, status`,
      sourceAccountId,
      since,
    ),
    prisma.$queryRawUnsafe<{ p50: number | null; p99: number | null }[]>(
      `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000 AS p50,
              percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM sent_at - created_at)) * 1000 AS p99
         FROM notifications
        WHERE source_account_id = $1 AND created_at >= $2 AND sent_at IS NOT NULL AND kind = 'single'
          AND scheduled_for IS NULL`,
      sourceAccountId,
      since,
    ),
  ]);
  const totals: Record<string, number> = {};
  const channels: Record<string, Record<string, number>> = {};
  for (const row of byStatus) {
    const n = Number(row.count);
    totals[row.status] = (totals[row.status] ?? 0) + n;
    (channels[row.channel] ??= {})[row.status] = n;
  }
  const providers: Record<string, Record<string, number>> = {};
  for (const row of byProvider) {
    (providers[row.provider ?? '(none)'] ??= {})[row.status] = Number(row.count);
  }
  let queues: Record<string, number> | null = null;
  try {
    queues = queueDepths ? await queueDepths() : null;
  } catch {
    queues = null;
  }
  return {
    windowHours: hours,
    since: since.toISOString(),
    total: Object.values(totals).reduce((a, b) => a + b, 0),
    byStatus: totals,
    byChannel: channels,
    attemptsByProvider: providers,
    sendLatencyMs: { p50: latency[0]?.p50 ?? null, p99: latency[0]?.p99 ?? null },
    queues,
  };
}
