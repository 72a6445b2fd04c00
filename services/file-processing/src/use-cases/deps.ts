import type { Principal } from '@nself/auth';
import { Errors } from '@nself/errors';
import type { Logger } from '@nself/logging';
import type { FileConfig } from '../config.js';
import type { EventPublisher } from '../adapters/events.js';
import type { ImageOptions } from '../adapters/image.js';
import type { MediaTools } from '../adapters/media-tools.js';
import type { JobQueue } from '../adapters/queue.js';
import type { FileRecord, FileRepository } from '../adapters/repository.js';
import type { VirusScanner } from '../adapters/scanner.js';
import type { ObjectStorage } from '../adapters/storage.js';
import type { FileMetrics } from '../metrics.js';

/** What the API-side use cases work with. */
export interface ServiceDeps {
  config: FileConfig;
  logger: Logger;
  repo: FileRepository;
  storage: ObjectStorage;
  queue: JobQueue;
  events: EventPublisher;
  metrics?: FileMetrics;
}

/** What the pipeline needs on top (worker, CLI). */
export interface PipelineDeps extends Omit<ServiceDeps, 'queue'> {
  scanner: VirusScanner | null;
  tools: MediaTools;
  image: ImageOptions;
}

export function imageOptionsFrom(config: FileConfig): ImageOptions {
  const p = config.processing;
  return {
    sizes: p.sizes,
    formats: p.formats,
    optimize: p.optimize,
    jpegQuality: p.jpegQuality,
    webpQuality: p.webpQuality,
    avifQuality: p.avifQuality,
    avifEffort: p.avifEffort,
    maxPixels: p.maxPixels,
  };
}

/** Owners see their files, admins every file of their account; anyone else gets a 404 (no existence leak). */
export function canAccess(principal: Principal, file: Pick<FileRecord, 'ownerId'>): boolean {
  return principal.isAdmin || (principal.userId !== null && file.ownerId === principal.userId);
}

export async function loadAccessibleFile(deps: Pick<ServiceDeps, 'repo'>, principal: Principal, fileId: string): Promise<FileRecord> {
  const file = await deps.repo.findFile(principal.sourceAccountId, fileId);
  if (!file || !canAccess(principal, file)) throw Errors.notFound('File', 'FILE_NOT_FOUND');
  return file;
}
