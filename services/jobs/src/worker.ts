import { createLogger } from '@nself/logging';
import { loadJobsConfig } from './config.js';
import { startWorkerProcess } from './runtime.js';

/**
 * A jobs worker process: `node dist/worker.js [queue...]` (default JOBS_WORKER_QUEUES, else every queue
 * of JOBS_QUEUES). /health, /ready and /metrics on JOBS_WORKER_PORT (default 3115).
 */
async function main(): Promise<void> {
  const config = loadJobsConfig();
  const logger = createLogger({ service: 'jobs-worker', level: config.logLevel });
  const queues = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  try {
    const worker = await startWorkerProcess(config, logger, queues.length ? queues : config.workerQueues);
    worker.shutdown.installSignalHandlers();
  } catch (error) {
    logger.fatal({ err: error }, 'jobs worker failed to start');
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
