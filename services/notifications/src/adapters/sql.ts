import pg from 'pg';

/**
 * Plain SQL over node-postgres for the hot paths (accepting sends, claiming and recording
 * deliveries): measured here at a quarter of the CPU per statement of Prisma's raw queries. Prisma
 * stays for the CRUD around it.
 */
export interface Sql {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement and returns the number of rows it touched. */
  execute(text: string, params?: unknown[]): Promise<number>;
  /** BEGIN … COMMIT on one connection (ROLLBACK when fn throws). */
  transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

type Queryable = pg.Pool | pg.PoolClient;

function over(client: Queryable): Omit<Sql, 'transaction' | 'close'> {
  return {
    async query<T>(text: string, params: unknown[] = []) {
      return (await client.query(text, params)).rows as T[];
    },
    async execute(text: string, params: unknown[] = []) {
      return (await client.query(text, params)).rowCount ?? 0;
    },
  };
}

export function createSql(databaseUrl: string, options: { max?: number } = {}): Sql {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: options.max ?? 10 });
  // An idle client that errors (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return {
    ...over(pool),
    async transaction<T>(fn: (tx: Sql) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Sql = {
          ...over(client),
          transaction: (inner) => inner(tx),
          close: async () => undefined,
        };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/** A unique-constraint violation (SQLSTATE 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === '23505';
}
