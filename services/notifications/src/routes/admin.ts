import { getPrincipal, requireAdmin } from '@nself/auth';
import type { Prisma } from '@nself/db';
import { Errors, parseInput } from '@nself/errors';
import { Router } from 'express';
import { z } from 'zod';
import { CHANNELS } from '../config.js';
import { getStats } from '../use-cases/stats.js';
import type { ApiDeps } from './deps.js';

const PROVIDER_NAMES = ['smtp', 'smtp-fallback', 'webpush', 'fcm', 'onesignal', 'twilio', 'plivo', 'sns'] as const;
const overrideSchema = z
  .object({
    priority: z.number().int().min(0).max(10_000).optional(),
    enabled: z.boolean().optional(),
    /** Non-secret settings only (e.g. {"from": "App <hi@app.example>"} for email). Secrets stay in env. */
    config: z.record(z.string(), z.union([z.string().max(1000), z.number(), z.boolean()])).optional(),
  })
  .strict();

/** Stats and per-app provider order/enablement (admins). */
export function adminRoutes(deps: ApiDeps): Router {
  const router = Router();
  router.use(['/v1/stats', '/v1/providers'], requireAdmin());

  router.get('/v1/stats', async (req, res) => {
    const depths = deps.publisher.depths?.bind(deps.publisher);
    res.json(await getStats(deps.prisma, getPrincipal(req).sourceAccountId, req.query, depths));
  });

  router.get('/v1/providers', async (req, res) => {
    const account = getPrincipal(req).sourceAccountId;
    const c = deps.config;
    const configured = [
      ...(c.emailProviders.length ? ['smtp', ...(c.env.NOTIFICATIONS_SMTP_FALLBACK_URL ? ['smtp-fallback'] : [])].map((name) => ({ channel: 'email', name })) : []),
      ...c.pushProviders.map((name) => ({ channel: 'push', name })),
      ...c.smsProviders.map((name) => ({ channel: 'sms', name })),
    ];
    const overrides = await deps.prisma.notificationProvider.findMany({ where: { sourceAccountId: account } });
    const perChannel = new Map<string, number>();
    res.json({
      providers: configured.map((p) => {
        const index = (perChannel.get(p.channel) ?? 0) + 1;
        perChannel.set(p.channel, index);
        const o = overrides.find((r) => r.channel === p.channel && r.name === p.name);
        return { ...p, priority: o?.priority ?? index * 10, enabled: o?.enabled ?? true, config: o?.config ?? {} };
      }),
    });
  });

  router.put('/v1/providers/:channel/:name', async (req, res) => {
    const account = getPrincipal(req).sourceAccountId;
    const channel = z.enum(CHANNELS).safeParse(req.params.channel);
    const name = z.enum(PROVIDER_NAMES).safeParse(req.params.name);
    if (!channel.success || !name.success) throw Errors.notFound('Provider', 'PROVIDER_NOT_FOUND');
    const body = parseInput(overrideSchema, req.body);
    const data = {
      ...(body.priority !== undefined ? { priority: body.priority } : {}),
      ...(body.enabled !== undefined ? { enabled: body.enabled } : {}),
      ...(body.config ? { config: body.config as Prisma.InputJsonValue } : {}),
    };
    const row = await deps.prisma.notificationProvider.upsert({
      where: { sourceAccountId_channel_name: { sourceAccountId: account, channel: channel.data, name: name.data } },
      create: { sourceAccountId: account, channel: channel.data, name: name.data, ...data },
      update: data,
    });
    res.json({ channel: row.channel, name: row.name, priority: row.priority, enabled: row.enabled, config: row.config });
  });
  return router;
}
