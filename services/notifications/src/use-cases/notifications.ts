import { assertSelfOrAdmin, type Principal } from '@nself/auth';
import type { NotificationModel as Notification, PrismaClient } from '@nself/db';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import { CHANNELS } from '../config.js';

const STATUSES = ['queued', 'deferred', 'batched', 'sending', 'sent', 'delivered', 'failed', 'bounced', 'skipped'] as const;
const UUID = z.uuid();

export function toView(n: Notification) {
  return {
    id: n.id,
    userId: n.userId,
    template: n.templateName,
    templateVersion: n.templateVersion,
    channel: n.channel,
    category: n.category,
    priority: n.priority,
    kind: n.kind,
    status: n.status,
    recipient: n.recipient,
    subject: n.subject,
    provider: n.provider,
    providerMessageId: n.providerMessageId,
    attempts: n.attempts,
    maxAttempts: n.maxAttempts,
    lastError: n.lastError,
    idempotencyKey: n.idempotencyKey,
    batchId: n.batchId,
    requestId: n.requestId,
    scheduledFor: n.scheduledFor?.toISOString() ?? null,
    sentAt: n.sentAt?.toISOString() ?? null,
    deliveredAt: n.deliveredAt?.toISOString() ?? null,
    failedAt: n.failedAt?.toISOString() ?? null,
    createdAt: n.createdAt.toISOString(),
    updatedAt: n.updatedAt.toISOString(),
  };
}

/** One notification with its delivery attempts; the user it is for or an admin. */
export async function getNotification(prisma: PrismaClient, principal: Principal, id: string) {
  if (!UUID.safeParse(id).success) throw Errors.notFound('Notification', 'NOTIFICATION_NOT_FOUND');
  const n = await prisma.notification.findFirst({
    where: { id, sourceAccountId: principal.sourceAccountId },
    include: { attemptsLog: { orderBy: [{ attempt: 'asc' }, { createdAt: 'asc' }] } },
  });
  if (!n) throw Errors.notFound('Notification', 'NOTIFICATION_NOT_FOUND');
  assertSelfOrAdmin(principal, n.userId);
  return {
    ...toView(n),
    content: n.content,
    data: n.data,
    deliveryAttempts: n.attemptsLog.map((a) => ({
      attempt: a.attempt,
      status: a.status,
      provider: a.provider,
      error: a.error,
      nextAttemptAt: a.nextAttemptAt?.toISOString() ?? null,
      at: a.createdAt.toISOString(),
    })),
  };
}

const listSchema = z.object({
  status: z.enum(STATUSES).optional(),
  channel: z.enum(CHANNELS).optional(),
  category: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  /** Cursor: the id of the last item of the previous page (ids sort by creation time). */
  before: z.uuid().optional(),
});

export async function listUserNotifications(prisma: PrismaClient, principal: Principal, userId: string, query: unknown) {
  assertSelfOrAdmin(principal, userId);
  const q = parseInput(listSchema, query);
  const items = await prisma.notification.findMany({
    where: {
      sourceAccountId: principal.sourceAccountId,
      userId,
      ...(q.status ? { status: q.status } : {}),
      ...(q.channel ? { channel: q.channel } : {}),
      ...(q.category ? { category: q.category } : {}),
      ...(q.before ? { id: { lt: q.before } } : {}),
    },
    orderBy: { id: 'desc' },
    take: q.limit,
  });
  return { items: items.map(toView), nextCursor: items.length === q.limit ? items.at(-1)!.id : null };
}
