import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client.js';

export { Prisma, PrismaClient } from './generated/prisma/client.js';
export type * from './generated/prisma/models.js';

export interface DatabaseOptions {
  /** Pool size per process. */
  maxConnections?: number;
}

/** The Prisma 7 client over node-postgres (driver adapter; no native query engine). */
export function createPrisma(databaseUrl: string, options: DatabaseOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.maxConnections ?? 10 });
  return new PrismaClient({ adapter });
}

/** Readiness check: one round trip. */
export async function checkDatabase(prisma: PrismaClient): Promise<void> {
  await prisma.$queryRaw`SELECT 1`;
}
export { applyMigrations } from './migrations.js';
