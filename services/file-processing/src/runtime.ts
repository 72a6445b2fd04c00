import { createPrisma, type PrismaClient } from '@nself/db';
import { EventBus } from '@nself/events';
import { createHealth, type Health } from '@nself/health';
import type { Logger } from '@nself/logging';
import type { FileConfig } from './config.js';
import { configureSharp } from './adapters/image.js';
import { detectMediaTools, type MediaTools } from './adapters/media-tools.js';
import { createJobQueue, type JobQueue } from './adapters/queue.js';
import { FileRepository } from './adapters/repository.js';
import { createClamdScanner, type VirusScanner } from './adapters/scanner.js';
import { createStorage, type ObjectStorage } from './adapters/storage.js';
import { imageOptionsFrom, type PipelineDeps, type ServiceDeps } from './use-cases/deps.js';
import type { FileMetrics } from './metrics.js';

export const SERVICE_NAME = 'file-processing';

/** The real adapters of one process, built from the config (main, worker, CLI, benchmark). */
export interface Runtime {
  prisma: PrismaClient;
  repo: FileRepository;
  storage: ObjectStorage;
  queue: JobQueue;
  events: EventBus;
  scanner: VirusScanner | null;
  tools: MediaTools;
  service: ServiceDeps;
  pipeline: PipelineDeps;
}

export async function createRuntime(config: FileConfig, logger: Logger, metrics?: FileMetrics): Promise<Runtime> {
  configureSharp(config.processing.sharpConcurrency);
  const prisma = createPrisma(config.databaseUrl, { maxConnections: config.env.DATABASE_POOL_SIZE });
  const repo = new FileRepository(prisma);
  const storage = createStorage(config, logger);
  const queue = createJobQueue({
    redisUrl: config.redisUrl,
    prefix: config.queuePrefix,
    name: config.queueName,
    attempts: config.worker.attempts,
    backoffMs: config.worker.backoffMs,
  });
  const events = new EventBus({ url: config.amqpUrl, logger, service: SERVICE_NAME, exchange: config.eventsExchange });
  const scanner = config.scan.enabled ? createClamdScanner(config.scan) : null;
  const tools = await detectMediaTools(config.processing.tools);
  const service: ServiceDeps = { config, logger, repo, storage, queue, events, metrics };
  const pipeline: PipelineDeps = { config, logger, repo, storage, events, metrics, scanner, tools, image: imageOptionsFrom(config) };
  return { prisma, repo, storage, queue, events, scanner, tools, service, pipeline };
}

/** Creates the bucket when configured to (MinIO in compose starts empty); failures are logged, /ready shows them. */
export async function prepareStorage(config: FileConfig, storage: ObjectStorage, logger: Logger): Promise<void> {
  if (!config.storage.createBucket && storage.kind === 's3') return;
  try {
    await storage.ensureBucket();
  } catch (error) {
    logger.warn({ err: error, bucket: storage.bucket }, 'could not make sure the bucket exists');
  }
}

/**
 * Readiness of every dependency of the process, plus which media tools it found (in /ready). clamd is
 * checked where files are scanned (the worker), not by the API, which never talks to it.
 */
export function createFileHealth(
  runtime: Runtime,
  extra: Record<string, () => Promise<unknown>> = {},
  options: { clamd?: boolean } = {},
): Health {
  const checks: Record<string, () => Promise<unknown>> = {
    database: () => runtime.repo.check(),
    storage: () => runtime.storage.check(),
    rabbitmq: () => runtime.events.check(),
    ...extra,
  };
  if (runtime.scanner && options.clamd) checks.clamd = () => runtime.scanner!.check();
  const health = createHealth(checks);
  const capabilities = {
    virusScan: Boolean(runtime.scanner),
    storage: runtime.storage.kind,
    videoThumbnails: runtime.tools.ffmpeg.available && runtime.tools.ffprobe.available,
    pdfThumbnails: runtime.tools.pdftoppm.available,
    tools: runtime.tools,
  };
  return {
    ...health,
    // Extra field next to status/checks: what this process can do (tools detected at start).
    readiness: async () => ({ ...(await health.readiness()), capabilities }),
  };
}
