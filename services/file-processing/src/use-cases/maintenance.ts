import type { FileRecord } from '../adapters/repository.js';
import type { PipelineDeps } from './deps.js';
import { quarantineFile } from './quarantine.js';

/** Keys in this service's layout: <account>/<fileId>/…, also under the quarantine prefix. */
const SERVICE_KEY = /^[A-Za-z0-9_-]{1,64}\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\//;

export interface CleanupOptions {
  /** Report only (the default of the CLI). */
  dryRun: boolean;
  /** Objects and rows younger than this are left alone (uploads and jobs in flight). */
  graceMs: number;
  /** Rows of deleted files older than this are purged; undefined keeps them. */
  purgeDeletedAfterMs?: number;
}

export interface CleanupReport {
  dryRun: boolean;
  orphanObjects: { key: string; size: number }[];
  orphanBytes: number;
  filesWithoutObject: { id: string; objectKey: string }[];
  thumbnailsWithoutObject: number;
  purgedDeletedFiles: number;
}

/**
 * Orphans in both directions: objects in the service's key layout that no live row references (a
 * crash between upload and insert, deletes that could not reach storage), and rows whose object is
 * gone. Objects outside the service's layout are never touched (the bucket may be shared).
 */
export async function cleanup(
  deps: Pick<PipelineDeps, 'repo' | 'storage' | 'config' | 'logger'>,
  options: CleanupOptions,
): Promise<CleanupReport> {
  const cutoff = Date.now() - options.graceMs;
  const quarantine = deps.config.storage.quarantinePrefix;
  const referenced = await deps.repo.referencedKeys(deps.storage.bucket);
  const existing = new Set<string>();
  const orphanObjects: { key: string; size: number }[] = [];
  for await (const object of deps.storage.list()) {
    existing.add(object.key);
    const ours = SERVICE_KEY.test(object.key) || (object.key.startsWith(quarantine) && SERVICE_KEY.test(object.key.slice(quarantine.length)));
    if (ours && !referenced.has(object.key) && object.lastModified.getTime() < cutoff) {
      orphanObjects.push({ key: object.key, size: object.size });
    }
  }

  const filesWithoutObject: FileRecord[] = [];
  const thumbnailRows: string[] = [];
  for await (const file of deps.repo.allFiles()) {
    if (file.bucket !== deps.storage.bucket || file.createdAt.getTime() >= cutoff) continue;
    if (!existing.has(file.objectKey)) {
      filesWithoutObject.push(file);
      continue;
    }
    for (const thumb of await deps.repo.thumbnails(file.id)) {
      if (!existing.has(thumb.objectKey)) thumbnailRows.push(thumb.id);
    }
  }

  let purged = 0;
  const purgeable: string[] = [];
  if (options.purgeDeletedAfterMs !== undefined) {
    const purgeBefore = Date.now() - options.purgeDeletedAfterMs;
    for await (const file of deps.repo.allFiles({ includeDeleted: true })) {
      if (file.deletedAt && file.deletedAt.getTime() < purgeBefore) purgeable.push(file.id);
    }
  }

  if (!options.dryRun) {
    await deps.storage.deleteMany(orphanObjects.map((o) => o.key));
    for (const file of filesWithoutObject) {
      const derived = [file.optimizedKey, file.posterKey, ...(await deps.repo.thumbnails(file.id)).map((t) => t.objectKey)];
      await deps.storage.deleteMany(derived.filter((k): k is string => Boolean(k) && existing.has(k!)));
    }
    await deps.repo.purgeFileRows(filesWithoutObject.map((f) => f.id));
    if (thumbnailRows.length) await deps.repo.deleteThumbnailRows(thumbnailRows);
    if (purgeable.length) await deps.repo.purgeFileRows(purgeable);
    purged = purgeable.length;
  } else {
    purged = purgeable.length;
  }
  return {
    dryRun: options.dryRun,
    orphanObjects,
    orphanBytes: orphanObjects.reduce((sum, o) => sum + o.size, 0),
    filesWithoutObject: filesWithoutObject.map((f) => ({ id: f.id, objectKey: f.objectKey })),
    thumbnailsWithoutObject: thumbnailRows.length,
    purgedDeletedFiles: purged,
  };
}

export interface RescanReport {
  scanned: number;
  clean: number;
  infected: { fileId: string; signature: string }[];
  errors: { fileId: string; error: string }[];
}

/**
 * Scans every live, not yet quarantined file again (new signatures find old files): results recorded
 * in file_scans; newly infected files are quarantined and announced with file.infected.
 */
export async function rescanAll(
  deps: PipelineDeps,
  options: { sourceAccountId?: string; concurrency: number; onProgress?: (fileId: string, status: string) => void },
): Promise<RescanReport> {
  const scanner = deps.scanner;
  if (!scanner) throw new Error('virus scanning is not enabled (FILE_ENABLE_VIRUS_SCAN)');
  const report: RescanReport = { scanned: 0, clean: 0, infected: [], errors: [] };
  const scanOne = async (file: FileRecord) => {
    let result;
    try {
      result = await scanner.scan(await deps.storage.getStream(file.objectKey));
    } catch (error) {
      result = { status: 'error' as const, error: (error as Error).message, durationMs: 0 };
    }
    report.scanned += 1;
    const scan = await deps.repo.recordScan({
      sourceAccountId: file.sourceAccountId,
      fileId: file.id,
      engine: scanner.engine,
      status: result.status,
      signature: result.status === 'infected' ? result.signature : undefined,
      error: result.status === 'error' ? result.error : undefined,
      durationMs: result.durationMs,
    });
    options.onProgress?.(file.id, result.status);
    if (result.status === 'clean') report.clean += 1;
    else if (result.status === 'error') report.errors.push({ fileId: file.id, error: result.error });
    else {
      report.infected.push({ fileId: file.id, signature: result.signature });
      if (await quarantineFile(deps, file)) {
        await deps.events.publish(
          'file.infected',
          { fileId: file.id, jobId: `scan:${scan.id}`, signature: result.signature },
          { sourceAccountId: file.sourceAccountId, userId: file.ownerId },
        );
      }
    }
  };
  const running = new Set<Promise<void>>();
  for await (const file of deps.repo.allFiles({ sourceAccountId: options.sourceAccountId })) {
    if (file.quarantined || file.bucket !== deps.storage.bucket) continue;
    const task: Promise<void> = scanOne(file).finally(() => running.delete(task));
    running.add(task);
    if (running.size >= options.concurrency) await Promise.race(running);
  }
  await Promise.all(running);
  return report;
}
