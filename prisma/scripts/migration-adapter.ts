// A driver adapter for Prisma 6.19.3's WASM schema engine (`engine: 'js'`), working around the two
// snags of @prisma/adapter-pg 6.19 seen on these machines:
//  - it cannot decode Postgres catalog columns of type `name` (oid 19) and `"char"` (oid 18), which
//    the engine reads while introspecting: report them as text (oid 25);
//  - its executeScript() splits migration scripts on every ";", which breaks plpgsql function bodies
//    (and comments): send each script whole, which Postgres also runs as one implicit transaction;
//  - its default shadow database inherits the connection string's database, i.e. silently equals
//    the main database: create a real throwaway database and drop it WITH (FORCE) afterwards.
import { randomUUID } from 'node:crypto';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';

const CATALOG_TEXT_OIDS = new Set([18, 19]);
const TEXT_OID = 25;

function reportCatalogColumnsAsText(res: pg.QueryResult | undefined): void {
  for (const field of res?.fields ?? []) {
    if (CATALOG_TEXT_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
  }
}

class CatalogFriendlyClient extends pg.Client {
  // pg.Pool calls query() with a callback, the adapter's own connections with a promise: cover both.
  override query(...args: unknown[]): never {
    const last = args.at(-1);
    if (typeof last === 'function') {
      args[args.length - 1] = (err: Error | null, res: pg.QueryResult) => {
        if (!err) reportCatalogColumnsAsText(res);
        (last as (e: Error | null, r: pg.QueryResult) => void)(err, res);
      };
    }
    const result = (super.query as (...a: unknown[]) => unknown)(...args);
    if (result instanceof Promise) {
      return result.then((res: pg.QueryResult) => {
        reportCatalogColumnsAsText(res);
        return res;
      }) as never;
    }
    return result as never;
  }
}

function poolConfig(databaseUrl: string, database?: string): pg.PoolConfig {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    database: database ?? decodeURIComponent(url.pathname.slice(1)),
    max: 4,
    Client: CatalogFriendlyClient,
  };
}

async function adminExec(databaseUrl: string, sql: string): Promise<void> {
  const { Client: _client, max: _max, ...connection } = poolConfig(databaseUrl);
  const client = new pg.Client(connection);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

type ConnectedAdapter = Awaited<ReturnType<PrismaPg['connect']>>;

function executeScriptsWhole(adapter: ConnectedAdapter): ConnectedAdapter {
  const convertError = (adapter as unknown as { onError(error: unknown): never }).onError.bind(adapter);
  adapter.executeScript = async (script: string) => {
    try {
      await adapter.underlyingDriver().query(script);
    } catch (error) {
      convertError(error);
    }
  };
  return adapter;
}

class MigrationAdapterFactory extends PrismaPg {
  constructor(private readonly databaseUrl: string) {
    super(new pg.Pool(poolConfig(databaseUrl)), { disposeExternalPool: true });
  }

  override async connect() {
    return executeScriptsWhole(await super.connect());
  }

  override async connectToShadowDb() {
    const name = `prisma_shadow_${randomUUID().replaceAll('-', '')}`;
    await adminExec(this.databaseUrl, `CREATE DATABASE "${name}"`);
    const shadow = await new PrismaPg(new pg.Pool(poolConfig(this.databaseUrl, name)), {
      disposeExternalPool: true,
    }).connect();
    executeScriptsWhole(shadow);
    const dispose = shadow.dispose.bind(shadow);
    shadow.dispose = async () => {
      await dispose();
      await adminExec(this.databaseUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    };
    return shadow;
  }
}

export function createMigrationAdapter(databaseUrl: string): PrismaPg {
  return new MigrationAdapterFactory(databaseUrl);
}
