import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface PgDumpProcess {
  /** The dump, streamed. */
  stdout: Readable;
  /** Resolves when pg_dump exits 0; rejects with the tail of stderr otherwise. */
  done: Promise<void>;
  kill(): void;
}

/**
 * Starts pg_dump for a postgres:// URL. The connection settings go in PG* environment variables, so the
 * password never shows in the process list.
 */
export function startPgDump(pgDumpPath: string, databaseUrl: string, format: 'custom' | 'plain'): PgDumpProcess {
  const url = new URL(databaseUrl);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PGHOST: decodeURIComponent(url.hostname) || 'localhost',
    PGPORT: url.port || '5432',
    PGDATABASE: decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres',
    ...(url.username ? { PGUSER: decodeURIComponent(url.username) } : {}),
    ...(url.password ? { PGPASSWORD: decodeURIComponent(url.password) } : {}),
    ...(url.searchParams.get('sslmode') ? { PGSSLMODE: url.searchParams.get('sslmode')! } : {}),
    PGCONNECT_TIMEOUT: '10',
  };
  const args = [`--format=${format === 'custom' ? 'custom' : 'plain'}`, '--no-owner', '--no-privileges'];
  const child: ChildProcessByStdio<null, Readable, Readable> = spawn(pgDumpPath, args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-2000);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new Error(`could not start pg_dump: ${error.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`pg_dump exited with ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
  return { stdout: child.stdout, done, kill: () => child.kill('SIGTERM') };
}
