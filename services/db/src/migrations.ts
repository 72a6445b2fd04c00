import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** prisma/bin/prisma6 of this checkout (services/db/{src,dist} → repository root). */
function prisma6Path(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidate = path.resolve(here, '../../../prisma/bin/prisma6');
  if (!existsSync(candidate)) throw new Error(`migration runner not found at ${candidate}`);
  return candidate;
}

/**
 * Applies every pending migration of prisma/migrations (all services share one history), as the CLI
 * `init` command of each service does. Uses Prisma 6.19.3's WASM schema engine, which needs no
 * download; the result is the same `_prisma_migrations` history Prisma 7's `migrate deploy` writes.
 */
export async function applyMigrations(databaseUrl: string): Promise<string> {
  const { stdout } = await run(prisma6Path(), ['migrate', 'deploy'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
    timeout: 300_000,
  });
  return stdout;
}
