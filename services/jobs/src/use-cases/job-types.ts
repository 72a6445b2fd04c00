import { randomBytes } from 'node:crypto';
import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { z } from 'zod';
import type { JobTypeModel } from '@nself/db';
import { HttpRequestError } from '../adapters/safe-http.js';
import { isBuiltinType, JOB_TYPE_NAME } from '../contracts.js';
import { uuidv7 } from '../ids.js';
import type { ApiDeps } from './deps.js';
import { requireAdmin } from './permissions.js';

export interface JobTypeView {
  id: string;
  name: string;
  kind: string;
  url: string;
  timeoutMs: number;
  description: string | null;
  createdAt: string;
  updatedAt: string;
  /** Only in the answer that created (or rotated) it: the HMAC key handlers verify signatures with. */
  signingSecret?: string;
}

const view = (row: JobTypeModel, secret?: string): JobTypeView => ({
  id: row.id,
  name: row.name,
  kind: row.kind,
  url: row.url,
  timeoutMs: row.timeoutMs,
  description: row.description,
  createdAt: row.createdAt.toISOString(),
  updatedAt: row.updatedAt.toISOString(),
  ...(secret ? { signingSecret: secret } : {}),
});

export const registerJobTypeInput = z
  .object({
    name: z.string().regex(JOB_TYPE_NAME, 'lowercase letters, digits, ".", "_" or "-"'),
    kind: z.enum(['webhook', 'hasura-action']).default('webhook'),
    url: z.url({ protocol: /^https?$/ }),
    /** Optional own signing secret (≥ 32 chars); one is generated otherwise. */
    signingSecret: z.string().min(32).max(256).optional(),
    timeoutMs: z.number().int().min(100).max(3_600_000).default(30_000),
    description: z.string().max(500).optional(),
  })
  .strict();

/** Checks the handler URL against the SSRF policy the worker will apply when calling it. */
async function vetUrl(deps: ApiDeps, url: string): Promise<void> {
  try {
    await deps.http.vet(url);
  } catch (error) {
    if (error instanceof HttpRequestError) {
      const code = error.code === 'SSRF_BLOCKED' ? 'URL_NOT_ALLOWED' : 'INVALID_URL';
      throw Errors.badRequest(code, error.message);
    }
    throw error;
  }
}

/** Registers a custom job type for the caller's app (admin). The signing secret is returned once. */
export async function registerJobType(deps: ApiDeps, principal: Principal, raw: unknown): Promise<JobTypeView> {
  requireAdmin(principal);
  const input = parseInput(registerJobTypeInput, raw);
  if (isBuiltinType(input.name)) throw Errors.conflict('JOB_TYPE_RESERVED', `"${input.name}" is a built-in job type`);
  await vetUrl(deps, input.url);
  const secret = input.signingSecret ?? randomBytes(32).toString('base64url');
  const row = await deps.repo.createJobType({
    id: uuidv7(),
    sourceAccountId: principal.sourceAccountId,
    name: input.name,
    kind: input.kind,
    url: input.url,
    signingSecret: secret,
    timeoutMs: input.timeoutMs,
    description: input.description ?? null,
  });
  if (!row) throw Errors.conflict('JOB_TYPE_EXISTS', `A job type named "${input.name}" already exists`);
  return view(row, secret);
}

export const updateJobTypeInput = z
  .object({
    kind: z.enum(['webhook', 'hasura-action']).optional(),
    url: z.url({ protocol: /^https?$/ }).optional(),
    timeoutMs: z.number().int().min(100).max(3_600_000).optional(),
    description: z.string().max(500).optional(),
    /** true: generate a new signing secret (returned once). */
    rotateSecret: z.boolean().optional(),
  })
  .strict();

async function load(deps: ApiDeps, principal: Principal, name: string): Promise<JobTypeModel> {
  requireAdmin(principal);
  const row = await deps.repo.findJobTypeRow(principal.sourceAccountId, name);
  if (!row) throw Errors.notFound('Job type', 'JOB_TYPE_NOT_FOUND');
  return row;
}

export async function updateJobType(deps: ApiDeps, principal: Principal, name: string, raw: unknown): Promise<JobTypeView> {
  const row = await load(deps, principal, name);
  const input = parseInput(updateJobTypeInput, raw);
  if (input.url) await vetUrl(deps, input.url);
  const secret = input.rotateSecret ? randomBytes(32).toString('base64url') : undefined;
  const updated = await deps.repo.updateJobType(row.id, {
    ...(input.kind ? { kind: input.kind } : {}),
    ...(input.url ? { url: input.url } : {}),
    ...(input.timeoutMs ? { timeoutMs: input.timeoutMs } : {}),
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(secret ? { signingSecret: secret } : {}),
  });
  return view(updated, secret);
}

export async function listJobTypes(deps: ApiDeps, principal: Principal): Promise<JobTypeView[]> {
  requireAdmin(principal);
  return (await deps.repo.listJobTypes(principal.sourceAccountId)).map((row) => view(row));
}

export async function getJobType(deps: ApiDeps, principal: Principal, name: string): Promise<JobTypeView> {
  return view(await load(deps, principal, name));
}

export async function deleteJobType(deps: ApiDeps, principal: Principal, name: string): Promise<void> {
  const row = await load(deps, principal, name);
  await deps.repo.deleteJobType(row.id);
}
