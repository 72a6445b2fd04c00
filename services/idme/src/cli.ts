#!/usr/bin/env node
import { ConfigError, loadConfig } from '@nself/config';
import { applyMigrations, createPrisma } from '@nself/db';
import { Command } from 'commander';
import { z } from 'zod';
import { VerificationRepository } from './adapters/verification-repository.js';
import { loadProviderSettings } from './config.js';
import { checkProviderConfiguration } from './use-cases/check-provider.js';
import { toView } from './use-cases/read-verification.js';

const dbEnv = z.object({ DATABASE_URL: z.url() });

async function withRepository<T>(fn: (repo: VerificationRepository) => Promise<T>): Promise<T> {
  const { DATABASE_URL } = loadConfig(dbEnv);
  const prisma = createPrisma(DATABASE_URL, { maxConnections: 2 });
  try {
    return await fn(new VerificationRepository(prisma));
  } finally {
    await prisma.$disconnect();
  }
}

function print(json: boolean, value: unknown, text: () => string): void {
  console.log(json ? JSON.stringify(value, null, 2) : text());
}

export function buildCli(): Command {
  const program = new Command('nself-idme')
    .description('ID.me verification service: OAuth2/OIDC with PKCE, groups, badges and attributes')
    .version('1.0.0');

  program
    .command('init')
    .description('apply the database migrations (all services share one migration history)')
    .action(async () => {
      const { DATABASE_URL } = loadConfig(dbEnv);
      console.log((await applyMigrations(DATABASE_URL)).trim() || 'migrations applied');
    });

  program
    .command('server')
    .description('start the HTTP service (IDME_PORT, default 3010)')
    .action(async () => {
      const { startServer } = await import('./server.js');
      await startServer();
    });

  program
    .command('verify <user_id>')
    .description("show a user's verification status")
    .option('-a, --account <source_account_id>', 'app (source account) of the user', 'primary')
    .option('--json', 'print JSON')
    .action(async (userId: string, options: { account: string; json?: boolean }) => {
      await withRepository(async (repo) => {
        const row = await repo.find(options.account, userId);
        if (!row) {
          print(Boolean(options.json), { userId, status: 'none' }, () => `${userId}: no verification`);
          process.exitCode = 2;
          return;
        }
        const view = toView(row, new Date());
        print(Boolean(options.json), view, () =>
          [
            `${userId}: ${view.status}${view.verifiedAt ? ` (verified ${view.verifiedAt})` : ''}${view.revokedAt ? ` (revoked ${view.revokedAt})` : ''}`,
            `  active groups: ${view.groups.filter((g) => g.active).map((g) => g.group).join(', ') || 'none'}`,
            ...view.attributes.map((a) => `  ${a.name}: ${a.value ?? ''}`),
          ].join('\n'),
        );
        if (view.status !== 'verified') process.exitCode = 1;
      });
    });

  program
    .command('groups <user_id>')
    .description("list a user's verification groups with their badges")
    .option('-a, --account <source_account_id>', 'app (source account) of the user', 'primary')
    .option('--json', 'print JSON')
    .action(async (userId: string, options: { account: string; json?: boolean }) => {
      await withRepository(async (repo) => {
        const row = await repo.find(options.account, userId);
        const view = row ? toView(row, new Date()) : null;
        const groups = (view?.groups ?? []).map((g) => ({ ...g, badge: view?.badges.find((b) => b.group === g.group) ?? null }));
        print(Boolean(options.json), { userId, groups }, () =>
          groups.length
            ? groups
                .map((g) => {
                  const state = g.active ? 'verified' : g.verified ? 'expired' : 'not verified';
                  const sub = g.subgroups.length ? ` [${g.subgroups.join(', ')}]` : '';
                  const badge = g.badge ? ` badge "${g.badge.name}"${g.badge.expiresAt ? ` until ${g.badge.expiresAt}` : ''}` : '';
                  return `${g.group}${sub}: ${state}${badge}`;
                })
                .join('\n')
            : `${userId}: no groups`,
        );
        if (!groups.length) process.exitCode = 2;
      });
    });

  program
    .command('revoke <user_id>')
    .description("revoke a user's verification locally (tokens, groups, badges, attributes)")
    .option('-a, --account <source_account_id>', 'app (source account) of the user', 'primary')
    .action(async (userId: string, options: { account: string }) => {
      await withRepository(async (repo) => {
        const revoked = await repo.revoke(options.account, userId, new Date());
        console.log(revoked ? `${userId}: revoked` : `${userId}: no verification`);
        if (!revoked) process.exitCode = 2;
      });
    });

  program
    .command('stats')
    .description('verifications by status and verified groups')
    .option('-a, --account <source_account_id>', 'only this app')
    .option('--json', 'print JSON')
    .action(async (options: { account?: string; json?: boolean }) => {
      await withRepository(async (repo) => {
        const stats = await repo.stats(options.account);
        print(Boolean(options.json), stats, () =>
          [
            'verifications: ' + (Object.entries(stats.byStatus).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'),
            'verified groups: ' + (Object.entries(stats.verifiedGroups).map(([k, v]) => `${k}=${v}`).join(' ') || 'none'),
          ].join('\n'),
        );
      });
    });

  program
    .command('test')
    .description("check the client configuration against ID.me's discovery document (sandbox with IDME_SANDBOX=true)")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const report = await checkProviderConfiguration(loadProviderSettings());
      const mark = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL' } as const;
      print(Boolean(options.json), report, () =>
        [
          `issuer ${report.issuer}`,
          ...report.checks.map((c) => `${mark[c.status]}  ${c.check.padEnd(20)} ${c.detail}`),
          report.ok ? 'configuration OK' : 'configuration has problems (FAIL lines above)',
        ].join('\n'),
      );
      if (!report.ok) process.exitCode = 1;
    });

  return program;
}

buildCli()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    console.error(error instanceof ConfigError ? error.message : error instanceof Error ? error.message : error);
    process.exit(1);
  });
