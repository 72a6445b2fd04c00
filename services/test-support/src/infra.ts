/**
 * Connection settings for integration tests. The vitest global setup (global-setup.ts) creates a
 * database, a RabbitMQ vhost, a Redis key prefix and an S3 server for each test run, and passes them
 * here through TEST_* variables; each test then isolates itself further with unique names/accounts.
 */
export interface TestInfra {
  runId: string;
  databaseUrl: string;
  redisUrl: string;
  /** Prefix every Redis key of this run with it (BullMQ prefix, adapter keys, …). */
  redisPrefix: string;
  amqpUrl: string;
  clamd: { host: string; port: number };
  s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string };
  /** The repository root, for spawning service processes. */
  repoRoot: string;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run tests through vitest from the repository root (npm test)`);
  }
  return value;
}

export function testInfra(): TestInfra {
  return {
    runId: required('TEST_RUN_ID'),
    databaseUrl: required('TEST_DATABASE_URL'),
    redisUrl: required('TEST_REDIS_URL'),
    redisPrefix: required('TEST_REDIS_PREFIX'),
    amqpUrl: required('TEST_AMQP_URL'),
    clamd: { host: required('TEST_CLAMD_HOST'), port: Number(required('TEST_CLAMD_PORT')) },
    s3: {
      endpoint: required('TEST_S3_ENDPOINT'),
      region: 'us-east-1',
      accessKeyId: 'S3RVER',
      secretAccessKey: 'S3RVER',
    },
    repoRoot: required('TEST_REPO_ROOT'),
  };
}

let counter = 0;
/** A name unique within the run and across runs: for accounts, queues, buckets, rooms. */
export function uniqueName(prefix = 't'): string {
  counter += 1;
  return `${prefix}-${process.pid.toString(36)}${Date.now().toString(36)}${counter}`.toLowerCase();
}
