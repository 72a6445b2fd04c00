#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import { applyMigrations } from '@nself/db';
import { createLogger } from '@nself/logging';
import { loadFileConfig } from './config.js';
import { UUID_PATTERN, type FileRecord } from './adapters/repository.js';
import { JOB_STATUS } from './domain.js';
import { createRuntime, prepareStorage, SERVICE_NAME, type Runtime } from './runtime.js';
import { requestProcessing } from './use-cases/files.js';
import { cleanup, rescanAll } from './use-cases/maintenance.js';
import { processFile } from './use-cases/process-file.js';
import { registerObject } from './use-cases/storage-events.js';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number');
  return n;
};

async function withRuntime<T>(fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const config = loadFileConfig();
  const logger = createLogger({ service: `${SERVICE_NAME}-cli`, level: process.env.LOG_LEVEL ?? 'warn' });
  const runtime = await createRuntime(config, logger);
  try {
    return await fn(runtime);
  } finally {
    await runtime.queue.close().catch(() => undefined);
    await runtime.events.close().catch(() => undefined);
    await runtime.prisma.$disconnect().catch(() => undefined);
  }
}

function print(value: unknown, json: boolean, text: () => void): void {
  if (json) console.log(JSON.stringify(value, null, 2));
  else text();
}

export function buildCli(): Command {
  const program = new Command()
    .name('nself-file-processing')
    .description('File processing: uploads to S3/MinIO, virus scanning, EXIF stripping, thumbnails');

  program
    .command('init')
    .description('Apply the database migrations (all nself services share one history)')
    .action(async () => {
      const url = process.env.DATABASE_URL;
      if (!url) throw new Error('DATABASE_URL is required');
      console.log((await applyMigrations(url)).trim() || 'migrations applied');
    });

  program
    .command('server')
    .description('Start the HTTP API (FILE_PORT, default 3104)')
    .action(async () => {
      await import('./main.js');
    });

  program
    .command('worker')
    .description('Start a processing worker (health on FILE_WORKER_PORT, default 3114)')
    .action(async () => {
      await import('./worker.js');
    });

  program
    .command('process')
    .description('Process a file again by id, or register and process an object already in the bucket by key')
    .argument('<file_id>', 'file id, or an object key in the bucket')
    .option('--account <id>', 'source account for an object key that is not registered yet', 'primary')
    .option('--owner <userId>', 'owner for an object key that is not registered yet')
    .option('--inline', 'run the pipeline in this process instead of queueing it for a worker')
    .option('--wait', 'wait until the queued job has finished')
    .option('--json', 'print JSON')
    .action(async (target: string, options: { account: string; owner?: string; inline?: boolean; wait?: boolean; json?: boolean }) => {
      await withRuntime(async (runtime) => {
        await prepareStorage(runtime.service.config, runtime.storage, runtime.service.logger);
        let file: FileRecord | null = UUID_PATTERN.test(target) ? await runtime.repo.getFile(target) : null;
        let jobId: string;
        if (file && !file.deletedAt) {
          if (options.inline) {
            jobId = (await runtime.repo.findActiveJob(file.id))?.id ?? (await runtime.repo.createJob(file.sourceAccountId, file.id, null)).id;
          } else {
            jobId = (await requestProcessing(runtime.service, file, null)).jobId;
          }
        } else {
          const registered = await registerObject(runtime.service, target, {
            sourceAccountId: options.account,
            ownerId: options.owner ?? null,
            requestId: null,
            enqueue: !options.inline,
          });
          if ('reason' in registered) throw new Error(`${target}: ${registered.reason}`);
          file = registered.file;
          jobId = registered.jobId;
        }
        if (options.inline) {
          await runtime.events.start();
          const outcome = await processFile(runtime.pipeline, {
            jobId,
            attempt: 1,
            maxAttempts: 1,
            alreadyPublished: false,
            markPublished: async () => undefined,
          });
          print({ fileId: file.id, jobId, ...outcome }, Boolean(options.json), () =>
            console.log(`${file!.id} job ${jobId}: ${outcome.outcome}${'code' in outcome ? ` (${outcome.code}: ${outcome.error})` : ''}`),
          );
          if (outcome.outcome === 'failed') process.exitCode = 1;
          return;
        }
        let status: string = JOB_STATUS.queued;
        if (options.wait) {
          for (;;) {
            const job = await runtime.repo.getJob(jobId);
            status = job?.status ?? 'missing';
            if (status === JOB_STATUS.completed || status === JOB_STATUS.failed || status === 'missing') break;
            await new Promise((r) => setTimeout(r, 500));
          }
        }
        print({ fileId: file.id, jobId, status }, Boolean(options.json), () => console.log(`${file!.id} job ${jobId}: ${status}`));
        if (status === JOB_STATUS.failed) process.exitCode = 1;
      });
    });

  program
    .command('cleanup')
    .description('Find orphaned objects and rows; reports only (dry run) unless --apply is given')
    .option('--apply', 'delete what the dry run reports')
    .option('--grace-minutes <n>', 'leave objects and rows younger than this alone', positiveInt, 60)
    .option('--purge-deleted-days <n>', 'also purge rows of files deleted more than n days ago', positiveInt)
    .option('--json', 'print JSON')
    .action(async (options: { apply?: boolean; graceMinutes: number; purgeDeletedDays?: number; json?: boolean }) => {
      await withRuntime(async (runtime) => {
        const report = await cleanup(runtime.pipeline, {
          dryRun: !options.apply,
          graceMs: options.graceMinutes * 60_000,
          purgeDeletedAfterMs: options.purgeDeletedDays !== undefined ? options.purgeDeletedDays * 86_400_000 : undefined,
        });
        print(report, Boolean(options.json), () => {
          const verb = report.dryRun ? 'would delete' : 'deleted';
          console.log(`orphaned objects: ${report.orphanObjects.length} (${report.orphanBytes} bytes) — ${verb}`);
          for (const o of report.orphanObjects.slice(0, 50)) console.log(`  ${o.key} (${o.size} bytes)`);
          console.log(`files whose object is missing: ${report.filesWithoutObject.length} — ${verb}`);
          for (const f of report.filesWithoutObject.slice(0, 50)) console.log(`  ${f.id} ${f.objectKey}`);
          console.log(`thumbnail rows whose object is missing: ${report.thumbnailsWithoutObject} — ${verb}`);
          console.log(`rows of deleted files to purge: ${report.purgedDeletedFiles} — ${verb}`);
          if (report.dryRun) console.log('dry run: nothing was changed; run again with --apply to delete');
        });
      });
    });

  program
    .command('scan')
    .description('Scan every stored file again with clamd (quarantines newly detected files)')
    .option('--account <id>', 'only this source account')
    .option('--concurrency <n>', 'parallel scans', positiveInt, 4)
    .option('--json', 'print JSON')
    .action(async (options: { account?: string; concurrency: number; json?: boolean }) => {
      await withRuntime(async (runtime) => {
        await runtime.events.start();
        const report = await rescanAll(runtime.pipeline, {
          sourceAccountId: options.account,
          concurrency: Math.max(1, options.concurrency),
          onProgress: options.json ? undefined : (id, status) => console.log(`${id} ${status}`),
        });
        print(report, Boolean(options.json), () =>
          console.log(
            `scanned ${report.scanned}: ${report.clean} clean, ${report.infected.length} infected, ${report.errors.length} errors`,
          ),
        );
        if (report.infected.length || report.errors.length) process.exitCode = 1;
      });
    });

  program
    .command('stats')
    .description('Files, bytes, jobs, scans and queue counts')
    .option('--account <id>', 'only this source account (default: all)')
    .option('--json', 'print JSON')
    .action(async (options: { account?: string; json?: boolean }) => {
      await withRuntime(async (runtime) => {
        const [db, queue] = await Promise.all([runtime.repo.stats(options.account), runtime.queue.counts().catch(() => null)]);
        const stats = { sourceAccountId: options.account ?? null, ...db, queue };
        print(stats, Boolean(options.json), () => {
          console.log(`files by status: ${JSON.stringify(db.files)}`);
          console.log(`stored bytes: ${db.bytes}`);
          console.log(`jobs by status: ${JSON.stringify(db.jobs)}`);
          console.log(`scans by status: ${JSON.stringify(db.scans)}`);
          console.log(`thumbnails: ${db.thumbnails}, quarantined files: ${db.quarantined}`);
          console.log(`queue: ${queue ? JSON.stringify(queue) : 'unreachable'}`);
        });
      });
    });

  return program;
}

function isEntryPoint(): boolean {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]!) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
