import type { Principal } from '@nself/auth';
import { Errors } from '@nself/errors';
import type { JobsConfig } from '../config.js';
import { isBuiltinType, TYPE_PERMISSIONS } from '../contracts.js';
import type { JobScope } from '../adapters/jobs-repository.js';

/** Operators act on shared infrastructure: the admin secret, or an admin of an operator account. */
export function isOperator(principal: Principal, config: JobsConfig): boolean {
  return (
    principal.isAdmin &&
    (principal.via === 'admin-secret' || config.dashboard.operatorAccounts.includes(principal.sourceAccountId))
  );
}

/** Admins see every job of their app; other callers only the jobs they created. */
export function jobScope(principal: Principal): JobScope {
  return principal.isAdmin
    ? { sourceAccountId: principal.sourceAccountId }
    : { sourceAccountId: principal.sourceAccountId, createdBy: principal.userId };
}

export function requireAdmin(principal: Principal): void {
  if (!principal.isAdmin) throw Errors.forbidden('Admin role or admin secret required', 'ADMIN_REQUIRED');
}

/** 403 unless the caller may enqueue jobs of this type (see TYPE_PERMISSIONS). */
export function assertMayEnqueue(principal: Principal, type: string, payload: unknown, config: JobsConfig): void {
  if (!isBuiltinType(type)) return; // custom types: any caller of the app that registered them
  const rule = TYPE_PERMISSIONS[type];
  if (rule === 'user') return;
  if (rule === 'self-or-admin') {
    const target = (payload as { userId?: unknown } | null)?.userId;
    if (principal.isAdmin || (principal.userId !== null && target === principal.userId)) return;
    throw Errors.forbidden(`Only admins may run ${type} for other users`, 'JOB_TYPE_FORBIDDEN');
  }
  if (rule === 'admin') {
    if (principal.isAdmin) return;
    throw Errors.forbidden(`Only admins may run ${type} jobs`, 'JOB_TYPE_FORBIDDEN');
  }
  if (!isOperator(principal, config)) {
    throw Errors.forbidden(`${type} jobs act on shared infrastructure: operator credentials required`, 'JOB_TYPE_FORBIDDEN');
  }
}
