import { randomBytes } from 'node:crypto';
import type {
  FileMetadataModel,
  FileProcessingJobModel,
  FileScanModel,
  FileThumbnailModel,
  Prisma,
  PrismaClient,
} from '@nself/db';
import { FILE_STATUS, JOB_STATUS, type FileStatus } from '../domain.js';

export type FileRecord = FileMetadataModel;
export type JobRecord = FileProcessingJobModel;
export type ThumbnailRecord = FileThumbnailModel;
export type ScanRecord = FileScanModel;

/** A time-ordered UUID (v7), so new rows land at the end of the primary-key index. */
export function uuidv7(): string {
  const bytes = randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i += 1) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NewFile {
  id: string;
  sourceAccountId: string;
  ownerId: string | null;
  bucket: string;
  objectKey: string;
  originalName: string | null;
  mimeType: string;
  declaredMimeType: string | null;
  sizeBytes: number;
  sha256: string;
}

export interface ThumbnailInput {
  sizeLabel: string;
  format: string;
  width: number;
  height: number;
  objectKey: string;
  sizeBytes: number;
}

export interface ProcessedFields {
  width?: number | null;
  height?: number | null;
  format?: string | null;
  pages?: number | null;
  durationMs?: number | null;
  exif?: Record<string, string | number>;
  optimizedKey?: string | null;
  optimizedBytes?: number | null;
  posterKey?: string | null;
  sha256?: string;
  sizeBytes?: number;
}

const ACTIVE_JOB = { in: [JOB_STATUS.queued, JOB_STATUS.running] };

/** Every database access of the service. Queries that serve callers are scoped by sourceAccountId. */
export class FileRepository {
  constructor(readonly prisma: PrismaClient) {}

  async check(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }

  // ------------------------------------------------------------------------------------- files

  findFile(sourceAccountId: string, id: string): Promise<FileRecord | null> {
    if (!UUID_PATTERN.test(id)) return Promise.resolve(null);
    return this.prisma.fileMetadata.findFirst({ where: { id, sourceAccountId, deletedAt: null } });
  }

  /** Unscoped: for the worker and operator tools, which act on ids they were given by the system. */
  getFile(id: string): Promise<FileRecord | null> {
    if (!UUID_PATTERN.test(id)) return Promise.resolve(null);
    return this.prisma.fileMetadata.findUnique({ where: { id } });
  }

  findByKey(bucket: string, objectKey: string): Promise<FileRecord | null> {
    return this.prisma.fileMetadata.findUnique({ where: { bucket_objectKey: { bucket, objectKey } } });
  }

  findDuplicate(sourceAccountId: string, ownerId: string | null, sha256: string): Promise<FileRecord | null> {
    return this.prisma.fileMetadata.findFirst({
      where: {
        sourceAccountId,
        ownerId,
        sha256,
        deletedAt: null,
        status: { notIn: [FILE_STATUS.failed, FILE_STATUS.deleted] },
      },
      orderBy: { createdAt: 'asc' },
    });
  }

  /** The file row and its first job, in one transaction. */
  async createFileWithJob(file: NewFile, jobId: string, requestId: string | null): Promise<{ file: FileRecord; job: JobRecord }> {
    const created = await this.prisma.fileMetadata.create({
      data: {
        ...file,
        sizeBytes: BigInt(file.sizeBytes),
        jobs: { create: { id: jobId, sourceAccountId: file.sourceAccountId, requestId } },
      },
      include: { jobs: true },
    });
    const { jobs, ...row } = created;
    return { file: row, job: jobs[0]! };
  }

  /** Removes a row that must not stay (compensation when enqueueing failed). */
  async deleteFileRow(id: string): Promise<void> {
    await this.prisma.fileMetadata.deleteMany({ where: { id } });
  }

  async setFileStatus(id: string, status: FileStatus): Promise<void> {
    await this.prisma.fileMetadata.updateMany({ where: { id, deletedAt: null }, data: { status } });
  }

  async updateFile(id: string, data: Prisma.FileMetadataUpdateInput): Promise<void> {
    await this.prisma.fileMetadata.update({ where: { id }, data });
  }

  async markDeleted(id: string): Promise<void> {
    await this.prisma.$transaction([
      this.prisma.fileThumbnail.deleteMany({ where: { fileId: id } }),
      this.prisma.fileMetadata.update({
        where: { id },
        data: { status: FILE_STATUS.deleted, deletedAt: new Date(), optimizedKey: null, posterKey: null },
      }),
      this.prisma.fileProcessingJob.updateMany({
        where: { fileId: id, status: ACTIVE_JOB },
        data: { status: JOB_STATUS.failed, errorCode: 'FILE_DELETED', error: 'The file was deleted', completedAt: new Date() },
      }),
    ]);
  }

  listFiles(options: {
    sourceAccountId: string;
    ownerId?: string;
    status?: string;
    limit: number;
    before?: string;
  }): Promise<FileRecord[]> {
    return this.prisma.fileMetadata.findMany({
      where: {
        sourceAccountId: options.sourceAccountId,
        deletedAt: null,
        ...(options.ownerId !== undefined ? { ownerId: options.ownerId } : {}),
        ...(options.status ? { status: options.status } : {}),
        ...(options.before ? { id: { lt: options.before } } : {}),
      },
      orderBy: { id: 'desc' },
      take: options.limit,
    });
  }

  /** Pages through files for operator tools (all accounts unless one is given), oldest first. */
  async *allFiles(options: { sourceAccountId?: string; includeDeleted?: boolean; batch?: number } = {}): AsyncIterable<FileRecord> {
    let after: string | undefined;
    for (;;) {
      const page = await this.prisma.fileMetadata.findMany({
        where: {
          ...(options.sourceAccountId ? { sourceAccountId: options.sourceAccountId } : {}),
          ...(options.includeDeleted ? {} : { deletedAt: null }),
          ...(after ? { id: { gt: after } } : {}),
        },
        orderBy: { id: 'asc' },
        take: options.batch ?? 200,
      });
      if (!page.length) return;
      yield* page;
      after = page.at(-1)!.id;
    }
  }

  // -------------------------------------------------------------------------------------- jobs

  createJob(sourceAccountId: string, fileId: string, requestId: string | null): Promise<JobRecord> {
    return this.prisma.fileProcessingJob.create({ data: { id: uuidv7(), sourceAccountId, fileId, requestId } });
  }

  deleteJob(id: string): Promise<unknown> {
    return this.prisma.fileProcessingJob.deleteMany({ where: { id } });
  }

  findActiveJob(fileId: string): Promise<JobRecord | null> {
    return this.prisma.fileProcessingJob.findFirst({ where: { fileId, status: ACTIVE_JOB }, orderBy: { createdAt: 'desc' } });
  }

  findJob(sourceAccountId: string, id: string): Promise<JobRecord | null> {
    if (!UUID_PATTERN.test(id)) return Promise.resolve(null);
    return this.prisma.fileProcessingJob.findFirst({ where: { id, sourceAccountId } });
  }

  getJob(id: string): Promise<JobRecord | null> {
    if (!UUID_PATTERN.test(id)) return Promise.resolve(null);
    return this.prisma.fileProcessingJob.findUnique({ where: { id } });
  }

  latestJob(fileId: string): Promise<JobRecord | null> {
    return this.prisma.fileProcessingJob.findFirst({ where: { fileId }, orderBy: { createdAt: 'desc' } });
  }

  /** queued/running → running; false when the job is already finished (nothing to do). */
  async markJobRunning(id: string, attempt: number): Promise<boolean> {
    const { count } = await this.prisma.fileProcessingJob.updateMany({
      where: { id, status: ACTIVE_JOB },
      data: { status: JOB_STATUS.running, attempts: attempt, startedAt: new Date(), errorCode: null, error: null },
    });
    return count === 1;
  }

  /** A failed attempt that will be retried: back to queued, with the error kept for inspection. */
  async markJobRetrying(id: string, attempt: number, code: string, error: string): Promise<void> {
    await this.prisma.fileProcessingJob.updateMany({
      where: { id, status: ACTIVE_JOB },
      data: { status: JOB_STATUS.queued, attempts: attempt, errorCode: code, error },
    });
  }

  /** The final failure; true only for the call that moved the job to failed. */
  async markJobFailed(id: string, attempt: number, code: string, error: string): Promise<boolean> {
    const { count } = await this.prisma.fileProcessingJob.updateMany({
      where: { id, status: ACTIVE_JOB },
      data: { status: JOB_STATUS.failed, attempts: attempt, errorCode: code, error, completedAt: new Date() },
    });
    return count === 1;
  }

  /** The final failure of a job and its file's "failed" status, together (readers never see one without the other). */
  async failJobAndFile(id: string, attempt: number, code: string, error: string): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.fileProcessingJob.updateMany({
        where: { id, status: ACTIVE_JOB },
        data: { status: JOB_STATUS.failed, attempts: attempt, errorCode: code, error, completedAt: new Date() },
      });
      if (count !== 1) return false;
      const job = await tx.fileProcessingJob.findUniqueOrThrow({ where: { id }, select: { fileId: true } });
      await tx.fileMetadata.updateMany({ where: { id: job.fileId, deletedAt: null }, data: { status: FILE_STATUS.failed } });
      return true;
    });
  }

  // ------------------------------------------------------------------------- results, in one go

  /**
   * Writes a successful run: thumbnails replaced, file fields and status set, job completed — one
   * transaction, and only if the job is still running (a run that lost its lock changes nothing).
   * Returns false when the job had already been completed by someone else.
   */
  async completeProcessing(input: {
    jobId: string;
    attempt: number;
    file: FileRecord;
    status: FileStatus;
    fields: ProcessedFields;
    thumbnails: ThumbnailInput[];
  }): Promise<boolean> {
    const { file, fields } = input;
    return this.prisma.$transaction(async (tx) => {
      const { count } = await tx.fileProcessingJob.updateMany({
        where: { id: input.jobId, status: JOB_STATUS.running },
        data: { status: JOB_STATUS.completed, attempts: input.attempt, completedAt: new Date(), errorCode: null, error: null },
      });
      if (count !== 1) return false;
      await tx.fileThumbnail.deleteMany({ where: { fileId: file.id } });
      if (input.thumbnails.length) {
        await tx.fileThumbnail.createMany({
          data: input.thumbnails.map((t) => ({ id: uuidv7(), sourceAccountId: file.sourceAccountId, fileId: file.id, ...t })),
        });
      }
      const updated = await tx.fileMetadata.updateMany({
        where: { id: file.id, deletedAt: null },
        data: {
          status: input.status,
          width: fields.width,
          height: fields.height,
          format: fields.format,
          pages: fields.pages,
          durationMs: fields.durationMs,
          exif: fields.exif ?? {},
          optimizedKey: fields.optimizedKey ?? null,
          optimizedBytes: fields.optimizedBytes != null ? BigInt(fields.optimizedBytes) : null,
          posterKey: fields.posterKey ?? null,
          ...(fields.sha256 ? { sha256: fields.sha256 } : {}),
          ...(fields.sizeBytes !== undefined ? { sizeBytes: BigInt(fields.sizeBytes) } : {}),
        },
      });
      if (updated.count !== 1) throw new Error('file was deleted while it was processed');
      return true;
    });
  }

  /** Marks a file infected and quarantined: derivatives dropped, object moved (key updated). */
  async quarantine(input: { jobId?: string; attempt?: number; fileId: string; quarantineKey: string }): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      if (input.jobId) {
        const { count } = await tx.fileProcessingJob.updateMany({
          where: { id: input.jobId, status: JOB_STATUS.running },
          data: { status: JOB_STATUS.completed, attempts: input.attempt, completedAt: new Date(), errorCode: null, error: null },
        });
        if (count !== 1) return false;
      }
      await tx.fileThumbnail.deleteMany({ where: { fileId: input.fileId } });
      await tx.fileMetadata.update({
        where: { id: input.fileId },
        data: {
          status: FILE_STATUS.infected,
          quarantined: true,
          objectKey: input.quarantineKey,
          optimizedKey: null,
          optimizedBytes: null,
          posterKey: null,
        },
      });
      return true;
    });
  }

  thumbnails(fileId: string): Promise<ThumbnailRecord[]> {
    return this.prisma.fileThumbnail.findMany({ where: { fileId }, orderBy: [{ width: 'desc' }, { format: 'asc' }] });
  }

  // ------------------------------------------------------------------------------------- scans

  recordScan(input: {
    sourceAccountId: string;
    fileId: string;
    engine: string;
    status: 'clean' | 'infected' | 'error';
    signature?: string;
    error?: string;
    durationMs?: number;
  }): Promise<ScanRecord> {
    return this.prisma.fileScan.create({ data: { id: uuidv7(), ...input } });
  }

  latestScan(fileId: string): Promise<ScanRecord | null> {
    return this.prisma.fileScan.findFirst({ where: { fileId }, orderBy: { scannedAt: 'desc' } });
  }

  // ------------------------------------------------------------------------------------- stats

  async stats(sourceAccountId?: string): Promise<{
    files: Record<string, number>;
    bytes: number;
    jobs: Record<string, number>;
    scans: Record<string, number>;
    thumbnails: number;
    quarantined: number;
  }> {
    const account = sourceAccountId ? { sourceAccountId } : {};
    const [files, bytes, jobs, scans, thumbnails, quarantined] = await Promise.all([
      this.prisma.fileMetadata.groupBy({ by: ['status'], where: account, _count: { _all: true } }),
      this.prisma.fileMetadata.aggregate({ where: { ...account, deletedAt: null }, _sum: { sizeBytes: true } }),
      this.prisma.fileProcessingJob.groupBy({ by: ['status'], where: account, _count: { _all: true } }),
      this.prisma.fileScan.groupBy({ by: ['status'], where: account, _count: { _all: true } }),
      this.prisma.fileThumbnail.count({ where: account }),
      this.prisma.fileMetadata.count({ where: { ...account, quarantined: true, deletedAt: null } }),
    ]);
    const byStatus = (rows: { status: string; _count: { _all: number } }[]) =>
      Object.fromEntries(rows.map((r) => [r.status, r._count._all]));
    return {
      files: byStatus(files),
      bytes: Number(bytes._sum.sizeBytes ?? 0n),
      jobs: byStatus(jobs),
      scans: byStatus(scans),
      thumbnails,
      quarantined,
    };
  }

  /** Every object key the database references (for orphan detection). */
  async referencedKeys(bucket: string): Promise<Set<string>> {
    const set = new Set<string>();
    for await (const file of this.allFiles({ includeDeleted: false, batch: 1000 })) {
      if (file.bucket !== bucket) continue;
      set.add(file.objectKey);
      if (file.optimizedKey) set.add(file.optimizedKey);
      if (file.posterKey) set.add(file.posterKey);
    }
    let after: string | undefined;
    for (;;) {
      const page = await this.prisma.fileThumbnail.findMany({
        where: after ? { id: { gt: after } } : {},
        orderBy: { id: 'asc' },
        take: 1000,
        select: { id: true, objectKey: true },
      });
      if (!page.length) break;
      for (const t of page) set.add(t.objectKey);
      after = page.at(-1)!.id;
    }
    return set;
  }

  async deleteThumbnailRows(ids: string[]): Promise<void> {
    await this.prisma.fileThumbnail.deleteMany({ where: { id: { in: ids } } });
  }

  async purgeFileRows(ids: string[]): Promise<void> {
    await this.prisma.fileMetadata.deleteMany({ where: { id: { in: ids } } });
  }
}
