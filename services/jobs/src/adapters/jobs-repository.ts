import { Prisma, type PrismaClient } from '@nself/db';
import type { JobStatus } from '../contracts.js';
import type { ScheduleRow } from './worker-store.js';

export interface JobScope {
  sourceAccountId: string;
  /** Set for non-admin callers: they only see the jobs they created. */
  createdBy?: string | null;
}

export interface JobListFilter {
  queue?: string;
  status?: JobStatus;
  type?: string;
  scheduleId?: string;
  limit: number;
  /** The id of the last row of the previous page (ids are time-ordered UUIDv7). */
  cursor?: string;
}

export interface ScheduleInput extends ScheduleRow {
  name: string;
  nextRunAt: Date | null;
}

export interface JobTypeInput {
  id: string;
  sourceAccountId: string;
  name: string;
  kind: 'webhook' | 'hasura-action';
  url: string;
  signingSecret: string;
  timeoutMs: number;
  description?: string | null;
}

const uniqueViolation = (error: unknown) =>
  error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';

/** Every read and synchronous write of the API, each scoped by the caller's app. */
export function createJobsRepository(prisma: PrismaClient) {
  const scopeWhere = (scope: JobScope) => ({
    sourceAccountId: scope.sourceAccountId,
    ...(scope.createdBy !== undefined ? { createdBy: scope.createdBy } : {}),
  });

  return {
    findJob(scope: JobScope, id: string) {
      return prisma.job.findFirst({
        where: { id, ...scopeWhere(scope) },
        include: { result: true, failures: { orderBy: { attempt: 'asc' } } },
      });
    },

    findJobByBullmqId(queue: string, bullmqId: string) {
      return prisma.job.findUnique({ where: { queue_bullmqId: { queue, bullmqId } } });
    },

    listJobs(scope: JobScope, filter: JobListFilter) {
      return prisma.job.findMany({
        where: {
          ...scopeWhere(scope),
          ...(filter.queue ? { queue: filter.queue } : {}),
          ...(filter.status ? { status: filter.status } : {}),
          ...(filter.type ? { type: filter.type } : {}),
          ...(filter.scheduleId ? { scheduleId: filter.scheduleId } : {}),
          ...(filter.cursor ? { id: { lt: filter.cursor } } : {}),
        },
        orderBy: { id: 'desc' },
        take: filter.limit,
      });
    },

    /** Sets the status of a job the API changed itself (cancel / retry), outside the batched mirror. */
    async setStatus(id: string, status: JobStatus, finished: boolean, attemptsMade?: number) {
      await prisma.job.update({
        where: { id },
        data: { status, finishedAt: finished ? new Date() : null, ...(attemptsMade !== undefined ? { attemptsMade } : {}) },
      });
    },

    async countByStatus(sourceAccountId: string) {
      const rows = await prisma.job.groupBy({
        by: ['queue', 'status'],
        where: { sourceAccountId },
        _count: { _all: true },
      });
      return rows.map((r) => ({ queue: r.queue, status: r.status, count: r._count._all }));
    },

    async failuresSince(sourceAccountId: string, since: Date) {
      return prisma.jobFailure.count({ where: { sourceAccountId, failedAt: { gte: since } } });
    },

    // ---- schedules
    async createSchedule(input: ScheduleInput) {
      try {
        return await prisma.jobSchedule.create({
          data: { ...input, payload: input.payload as Prisma.InputJsonValue },
        });
      } catch (error) {
        if (uniqueViolation(error)) return null;
        throw error;
      }
    },
    listSchedules(sourceAccountId: string) {
      return prisma.jobSchedule.findMany({ where: { sourceAccountId }, orderBy: { name: 'asc' } });
    },
    findSchedule(sourceAccountId: string, id: string) {
      return prisma.jobSchedule.findFirst({ where: { id, sourceAccountId } });
    },
    updateSchedule(id: string, data: Partial<Omit<ScheduleInput, 'id' | 'sourceAccountId' | 'name'>>) {
      return prisma.jobSchedule.update({
        where: { id },
        data: { ...data, payload: data.payload === undefined ? undefined : (data.payload as Prisma.InputJsonValue) },
      });
    },
    async deleteSchedule(id: string) {
      await prisma.jobSchedule.delete({ where: { id } });
    },
    enabledSchedules() {
      return prisma.jobSchedule.findMany({ where: { enabled: true } });
    },
    allScheduleIds() {
      return prisma.jobSchedule.findMany({ select: { id: true, enabled: true } });
    },

    // ---- custom job types
    async createJobType(input: JobTypeInput) {
      try {
        return await prisma.jobType.create({ data: input });
      } catch (error) {
        if (uniqueViolation(error)) return null;
        throw error;
      }
    },
    updateJobType(id: string, data: Partial<Pick<JobTypeInput, 'kind' | 'url' | 'timeoutMs' | 'description' | 'signingSecret'>>) {
      return prisma.jobType.update({ where: { id }, data });
    },
    listJobTypes(sourceAccountId: string) {
      return prisma.jobType.findMany({ where: { sourceAccountId }, orderBy: { name: 'asc' } });
    },
    findJobTypeRow(sourceAccountId: string, name: string) {
      return prisma.jobType.findUnique({ where: { sourceAccountId_name: { sourceAccountId, name } } });
    },
    async deleteJobType(id: string) {
      await prisma.jobType.delete({ where: { id } });
    },
  };
}

export type JobsRepository = ReturnType<typeof createJobsRepository>;
