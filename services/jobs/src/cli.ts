#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import type { Principal } from '@nself/auth';
import { applyMigrations } from '@nself/db';
import { AppError } from '@nself/errors';
import { createLogger } from '@nself/logging';
import { loadJobsConfig, type JobsConfig } from './config.js';
import { createApiContext, startApiServer, startWorkerProcess, type ApiContext } from './runtime.js';
import { retryJob } from './use-cases/retry-job.js';
import { createSchedule, deleteSchedule, listSchedules, restoreSchedules } from './use-cases/schedules.js';
import { appStats, queueCounts } from './use-cases/stats.js';

/** The CLI acts as an operator (like the admin secret) for one app, `--account` (default primary). */
const operator = (account: string): Principal => ({
  userId: 'cli',
  roles: ['admin'],
  isAdmin: true,
  sourceAccountId: account,
  via: 'admin-secret',
});

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function json(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    throw new InvalidArgumentError('must be JSON');
  }
}

function print(value: unknown, asJson: boolean): void {
  console.log(asJson ? JSON.stringify(value, null, 2) : value);
}

/** Runs a command with the API's dependencies, closing them afterwards; AppErrors become exit code 1. */
async function withContext<T>(fn: (ctx: ApiContext, config: JobsConfig) => Promise<T>): Promise<T> {
  const config = loadJobsConfig();
  const logger = createLogger({ service: 'jobs-cli', level: process.env.LOG_LEVEL ?? 'warn' });
  const ctx = await createApiContext(config, logger, 'jobs-cli');
  try {
    return await fn(ctx, config);
  } finally {
    await ctx.close();
  }
}

function buildCli(): Command {
  const program = new Command('nself-jobs')
    .description('nself jobs: BullMQ queues, schedules, job types and the BullBoard dashboard')
    .version('1.0.0');

  program
    .command('init')
    .description('apply the database migrations (job tables included)')
    .action(async () => {
      const url = process.env.DATABASE_URL;
      if (!url) throw new Error('DATABASE_URL is required');
      const out = await applyMigrations(url);
      console.log(out.trim() || 'migrations applied');
    });

  program
    .command('server')
    .description('start the HTTP API and the BullBoard dashboard (JOBS_PORT, default 3105)')
    .action(async () => {
      const config = loadJobsConfig();
      const api = await startApiServer(config, createLogger({ service: 'jobs', level: config.logLevel }));
      api.shutdown.installSignalHandlers();
    });

  program
    .command('worker')
    .description('start a worker for the given queues (default: JOBS_WORKER_QUEUES, else every queue)')
    .argument('[queues...]', 'queue names')
    .option('-c, --concurrency <n>', 'jobs run in parallel per queue (default JOBS_DEFAULT_CONCURRENCY)', positiveInt)
    .action(async (queues: string[], options: { concurrency?: number }) => {
      const config = loadJobsConfig();
      const worker = await startWorkerProcess(
        config,
        createLogger({ service: 'jobs-worker', level: config.logLevel }),
        queues.length ? queues : config.workerQueues,
        { concurrency: options.concurrency },
      );
      worker.shutdown.installSignalHandlers();
    });

  const schedule = program.command('schedule').description('cron schedules');
  schedule
    .command('add')
    .description('add a cron schedule (persisted in job_schedules, installed as a BullMQ job scheduler)')
    .requiredOption('-n, --name <name>', 'unique name within the app')
    .requiredOption('--cron <expression>', 'cron expression: 5 fields, or 6 with seconds')
    .requiredOption('-t, --type <type>', 'job type, e.g. http-request or database-backup')
    .option('-p, --payload <json>', 'job payload as JSON', json, {})
    .option('--timezone <tz>', 'IANA time zone', 'UTC')
    .option('-q, --queue <queue>', 'queue (default JOBS_DEFAULT_QUEUE)')
    .option('--account <id>', 'app (source account id)', 'primary')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; cron: string; type: string; payload: unknown; timezone: string; queue?: string; account: string; json?: boolean }) => {
      const created = await withContext((ctx) =>
        createSchedule(ctx.deps, operator(o.account), {
          name: o.name,
          cron: o.cron,
          timezone: o.timezone,
          type: o.type,
          payload: o.payload,
          ...(o.queue ? { queue: o.queue } : {}),
        }),
      );
      if (o.json) print(created, true);
      else console.log(`schedule ${created.id} "${created.name}" (${created.cron} ${created.timezone}) next run ${created.nextRunAt}`);
    });
  schedule
    .command('list')
    .description('list the schedules of an app')
    .option('--account <id>', 'app (source account id)', 'primary')
    .option('--json', 'print JSON')
    .action(async (o: { account: string; json?: boolean }) => {
      const items = await withContext((ctx) => listSchedules(ctx.deps, operator(o.account)));
      if (o.json) {
        print(items, true);
        return;
      }
      if (!items.length) console.log('no schedules');
      for (const s of items) {
        console.log(`${s.id}  ${s.enabled ? 'on ' : 'off'}  ${s.name}  "${s.cron}" ${s.timezone}  ${s.type}@${s.queue}  next ${s.nextRunAt ?? '-'}  last ${s.lastRunAt ?? '-'}`);
      }
    });
  schedule
    .command('remove')
    .description('delete a schedule')
    .argument('<schedule_id>')
    .option('--account <id>', 'app (source account id)', 'primary')
    .action(async (id: string, o: { account: string }) => {
      await withContext((ctx) => deleteSchedule(ctx.deps, operator(o.account), id));
      console.log(`schedule ${id} deleted`);
    });
  schedule
    .command('restore')
    .description('re-install every enabled schedule into BullMQ (done at every start of the service)')
    .action(async () => {
      const result = await withContext((ctx, config) => restoreSchedules({ ...ctx.deps, config }));
      console.log(`schedulers installed: ${result.applied}, removed: ${result.removed}`);
    });

  program
    .command('retry')
    .description('retry a failed or cancelled job')
    .argument('<job_id>', 'the job id (jobs.id)')
    .option('--account <id>', 'app (source account id)', 'primary')
    .option('--json', 'print JSON')
    .action(async (id: string, o: { account: string; json?: boolean }) => {
      const { job, retryOf } = await withContext((ctx) => retryJob(ctx.deps, operator(o.account), id));
      if (o.json) print({ ...job, ...(retryOf ? { retryOf } : {}) }, true);
      else console.log(retryOf ? `job ${retryOf} re-enqueued as ${job.id} (${job.status})` : `job ${job.id} is ${job.status} again`);
    });

  program
    .command('stats')
    .description('live queue counts (all apps) and the app’s job statistics')
    .option('--account <id>', 'app (source account id)', 'primary')
    .option('--json', 'print JSON')
    .action(async (o: { account: string; json?: boolean }) => {
      const stats = await withContext(async (ctx) => ({
        queues: await queueCounts(ctx.deps.queues),
        app: { sourceAccountId: o.account, ...(await appStats(ctx.deps.repo, o.account)) },
      }));
      if (o.json) {
        print(stats, true);
        return;
      }
      console.log('queue'.padEnd(24), ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'].map((s) => s.padStart(13)).join(''));
      for (const [name, counts] of Object.entries(stats.queues)) {
        console.log(name.padEnd(24), ['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed'].map((s) => String(counts[s] ?? 0).padStart(13)).join(''));
      }
      console.log(`\napp ${o.account}: ${JSON.stringify(stats.app.totals)}; failed attempts in the last hour: ${stats.app.failuresLastHour}`);
    });

  return program;
}

buildCli()
  .parseAsync(process.argv)
  .catch((error: unknown) => {
    const message = error instanceof AppError ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    console.error(message);
    process.exit(1);
  });
