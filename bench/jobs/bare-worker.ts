/**
 * The baseline: a bare BullMQ worker with a no-op processor, in its own process like the service's
 * worker. argv: <queue> <prefix> <concurrency>; REDIS_URL from the environment.
 */
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

const [queue, prefix, concurrency] = process.argv.slice(2);
const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
const worker = new Worker(queue!, async () => null, { connection, prefix, concurrency: Number(concurrency) });
await worker.waitUntilReady();
console.log(JSON.stringify({ msg: 'bare worker running', port: 0 }));
const stop = async () => {
  await worker.close();
  connection.disconnect();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
