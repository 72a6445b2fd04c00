import type { FileRecord } from '../adapters/repository.js';
import type { PipelineDeps } from './deps.js';

/**
 * Moves an infected file out of reach: the object is copied under the quarantine prefix and the
 * original removed, every derivative (thumbnails, optimized copy, poster) deleted, and the row marked
 * infected + quarantined (it never gets URLs again). With jobId, the job is completed in the same
 * transaction and false means another run already finished it.
 */
export async function quarantineFile(
  deps: Pick<PipelineDeps, 'repo' | 'storage' | 'config' | 'logger'>,
  file: FileRecord,
  job?: { jobId: string; attempt: number },
): Promise<boolean> {
  const prefix = deps.config.storage.quarantinePrefix;
  const quarantineKey = file.objectKey.startsWith(prefix) ? file.objectKey : `${prefix}${file.objectKey}`;
  const thumbnails = await deps.repo.thumbnails(file.id);
  const derivatives = [file.optimizedKey, file.posterKey, ...thumbnails.map((t) => t.objectKey)].filter(
    (k): k is string => Boolean(k),
  );
  if (quarantineKey !== file.objectKey) await deps.storage.copy(file.objectKey, quarantineKey);
  const moved = await deps.repo.quarantine({ jobId: job?.jobId, attempt: job?.attempt, fileId: file.id, quarantineKey });
  if (!moved) return false;
  const remove = quarantineKey !== file.objectKey ? [file.objectKey, ...derivatives] : derivatives;
  await deps.storage.deleteMany(remove).catch((err) => {
    // Unreferenced now: `cleanup` removes them if this did not.
    deps.logger.warn({ err, fileId: file.id }, 'could not remove objects of a quarantined file yet');
  });
  return true;
}
