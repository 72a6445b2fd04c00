import type { NotificationTemplateModel as NotificationTemplate, PrismaClient } from '@nself/db';
import { Prisma } from '@nself/db';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import { CHANNELS } from '../config.js';
import { validateTemplate, type TemplateSource, type VariableDeclaration } from '../domain/templates.js';

export const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const CATEGORY = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const PART_MAX = 100_000;

const part = z.string().max(PART_MAX).nullish();

const variableSchema = z
  .object({
    name: z.string().min(1).max(64),
    required: z.boolean().default(true),
    default: z.unknown().optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

const templateBody = {
  description: z.string().max(1000).nullish(),
  category: z.string().regex(CATEGORY, 'letters, digits, ".", "_" and "-"').default('general'),
  channels: z.array(z.enum(CHANNELS)).max(3).optional(),
  subject: z.string().max(998).nullish(),
  bodyText: part,
  bodyHtml: part,
  pushTitle: z.string().max(1000).nullish(),
  pushBody: z.string().max(4000).nullish(),
  smsBody: z.string().max(4000).nullish(),
  variables: z.array(variableSchema).max(100).optional(),
  isActive: z.boolean().default(true),
};

export const createTemplateSchema = z
  .object({ name: z.string().regex(TEMPLATE_NAME, 'letters, digits, ".", "_" and "-", up to 128'), ...templateBody })
  .strict();

export const updateTemplateSchema = z
  .object({
    ...templateBody,
    /** Optimistic concurrency: refuse the update unless the template is still at this version. */
    expectedVersion: z.number().int().min(1).optional(),
  })
  .strict();

export type TemplateView = ReturnType<typeof toView>;

export function toView(t: NotificationTemplate) {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    category: t.category,
    channels: t.channels,
    version: t.version,
    subject: t.subject,
    bodyText: t.bodyText,
    bodyHtml: t.bodyHtml,
    pushTitle: t.pushTitle,
    pushBody: t.pushBody,
    smsBody: t.smsBody,
    variables: t.variables as unknown as VariableDeclaration[],
    isActive: t.isActive,
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

export function toSource(
  t: Pick<NotificationTemplate, 'id' | 'name' | 'version' | 'subject' | 'bodyText' | 'bodyHtml' | 'pushTitle' | 'pushBody' | 'smsBody'> & { variables: unknown },
): TemplateSource {
  return {
    id: t.id,
    name: t.name,
    version: t.version,
    variables: t.variables as unknown as VariableDeclaration[],
    subject: t.subject,
    bodyText: t.bodyText,
    bodyHtml: t.bodyHtml,
    pushTitle: t.pushTitle,
    pushBody: t.pushBody,
    smsBody: t.smsBody,
  };
}

function snapshot(t: NotificationTemplate) {
  return {
    sourceAccountId: t.sourceAccountId,
    templateId: t.id,
    name: t.name,
    version: t.version,
    category: t.category,
    channels: t.channels,
    subject: t.subject,
    bodyText: t.bodyText,
    bodyHtml: t.bodyHtml,
    pushTitle: t.pushTitle,
    pushBody: t.pushBody,
    smsBody: t.smsBody,
    variables: t.variables as Prisma.InputJsonValue,
  };
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';
}

export async function createTemplate(prisma: PrismaClient, sourceAccountId: string, input: unknown): Promise<TemplateView> {
  const body = parseInput(createTemplateSchema, input);
  const { variables, channels } = validateTemplate(body, body.variables as VariableDeclaration[] | undefined, body.channels);
  try {
    const created = await prisma.$transaction(async (tx) => {
      const template = await tx.notificationTemplate.create({
        data: {
          sourceAccountId,
          name: body.name,
          description: body.description ?? null,
          category: body.category,
          channels,
          subject: body.subject ?? null,
          bodyText: body.bodyText ?? null,
          bodyHtml: body.bodyHtml ?? null,
          pushTitle: body.pushTitle ?? null,
          pushBody: body.pushBody ?? null,
          smsBody: body.smsBody ?? null,
          variables: variables as unknown as Prisma.InputJsonValue,
          isActive: body.isActive,
        },
      });
      await tx.notificationTemplateVersion.create({ data: snapshot(template) });
      return template;
    });
    return toView(created);
  } catch (error) {
    if (isUniqueViolation(error)) throw Errors.conflict('TEMPLATE_EXISTS', `Template "${body.name}" already exists`);
    throw error;
  }
}

/** PUT: replaces the template's content as a new version; the old version stays readable. */
export async function updateTemplate(
  prisma: PrismaClient,
  sourceAccountId: string,
  name: string,
  input: unknown,
): Promise<TemplateView> {
  const body = parseInput(updateTemplateSchema, input);
  const { variables, channels } = validateTemplate(body, body.variables as VariableDeclaration[] | undefined, body.channels);
  return prisma.$transaction(async (tx) => {
    const current = await tx.notificationTemplate.findUnique({ where: { sourceAccountId_name: { sourceAccountId, name } } });
    if (!current) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
    if (body.expectedVersion !== undefined && body.expectedVersion !== current.version) {
      throw Errors.conflict('VERSION_CONFLICT', `Template "${name}" is at version ${current.version}, not ${body.expectedVersion}`);
    }
    const updated = await tx.notificationTemplate.updateMany({
      where: { id: current.id, version: current.version },
      data: {
        description: body.description ?? null,
        category: body.category,
        channels,
        subject: body.subject ?? null,
        bodyText: body.bodyText ?? null,
        bodyHtml: body.bodyHtml ?? null,
        pushTitle: body.pushTitle ?? null,
        pushBody: body.pushBody ?? null,
        smsBody: body.smsBody ?? null,
        variables: variables as unknown as Prisma.InputJsonValue,
        isActive: body.isActive,
        version: { increment: 1 },
      },
    });
    if (updated.count !== 1) throw Errors.conflict('VERSION_CONFLICT', `Template "${name}" changed during the update`);
    const template = await tx.notificationTemplate.findUniqueOrThrow({ where: { id: current.id } });
    await tx.notificationTemplateVersion.create({ data: snapshot(template) });
    return toView(template);
  });
}

export async function getTemplate(
  prisma: PrismaClient,
  sourceAccountId: string,
  name: string,
  version?: number,
): Promise<TemplateView> {
  const template = await prisma.notificationTemplate.findUnique({ where: { sourceAccountId_name: { sourceAccountId, name } } });
  if (!template) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
  if (version === undefined || version === template.version) return toView(template);
  const old = await prisma.notificationTemplateVersion.findUnique({
    where: { sourceAccountId_name_version: { sourceAccountId, name, version } },
  });
  if (!old) throw Errors.notFound(`Version ${version} of template "${name}"`, 'TEMPLATE_VERSION_NOT_FOUND');
  return {
    ...toView(template),
    version: old.version,
    category: old.category,
    channels: old.channels,
    subject: old.subject,
    bodyText: old.bodyText,
    bodyHtml: old.bodyHtml,
    pushTitle: old.pushTitle,
    pushBody: old.pushBody,
    smsBody: old.smsBody,
    variables: old.variables as unknown as VariableDeclaration[],
    updatedAt: old.createdAt.toISOString(),
  };
}

export async function listTemplateVersions(prisma: PrismaClient, sourceAccountId: string, name: string) {
  const template = await prisma.notificationTemplate.findUnique({ where: { sourceAccountId_name: { sourceAccountId, name } } });
  if (!template) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
  const versions = await prisma.notificationTemplateVersion.findMany({
    where: { templateId: template.id },
    orderBy: { version: 'desc' },
    select: { version: true, createdAt: true, subject: true, channels: true },
  });
  return versions.map((v) => ({ ...v, createdAt: v.createdAt.toISOString() }));
}

const listSchema = z.object({
  category: z.string().regex(CATEGORY).optional(),
  active: z.enum(['true', 'false']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export async function listTemplates(prisma: PrismaClient, sourceAccountId: string, query: unknown) {
  const q = parseInput(listSchema, query);
  const where = {
    sourceAccountId,
    ...(q.category ? { category: q.category } : {}),
    ...(q.active ? { isActive: q.active === 'true' } : {}),
  };
  const [items, total] = await Promise.all([
    prisma.notificationTemplate.findMany({ where, orderBy: { name: 'asc' }, take: q.limit, skip: q.offset }),
    prisma.notificationTemplate.count({ where }),
  ]);
  return { items: items.map(toView), total, limit: q.limit, offset: q.offset };
}

export async function deleteTemplate(prisma: PrismaClient, sourceAccountId: string, name: string): Promise<void> {
  const result = await prisma.notificationTemplate.deleteMany({ where: { sourceAccountId, name } });
  if (result.count === 0) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
}

/** The columns a send needs. */
export interface ActiveTemplate {
  id: string;
  name: string;
  version: number;
  category: string;
  channels: string[];
  variables: unknown;
  subject: string | null;
  bodyText: string | null;
  bodyHtml: string | null;
  pushTitle: string | null;
  pushBody: string | null;
  smsBody: string | null;
}

/** A raw query (the hot path's pg pool, or Prisma's $queryRawUnsafe in the CLI). */
export type QueryFn = (text: string, params: unknown[]) => Promise<unknown[]>;

/** The active template a send uses (one indexed lookup, on every send); 404 TEMPLATE_NOT_FOUND otherwise. */
export async function loadActiveTemplate(query: QueryFn, sourceAccountId: string, name: string): Promise<ActiveTemplate> {
  const rows = (await query(
    `SELECT id, name, version, category, channels, variables, subject, body_text AS "bodyText", body_html AS "bodyHtml",
            push_title AS "pushTitle", push_body AS "pushBody", sms_body AS "smsBody"
       FROM notification_templates
      WHERE source_account_id = $1 AND name = $2 AND is_active`,
    [sourceAccountId, name],
  )) as ActiveTemplate[];
  if (!rows[0]) throw Errors.notFound(`Template "${name}"`, 'TEMPLATE_NOT_FOUND');
  return rows[0];
}
