import { createLogger } from '@nself/logging';
import { loadJobsConfig } from './config.js';
import { startApiServer } from './runtime.js';

/** The jobs API process (JOBS_PORT, default 3105): REST API, BullBoard, schedule restore. */
async function main(): Promise<void> {
  const config = loadJobsConfig();
  const logger = createLogger({ service: 'jobs', level: config.logLevel });
  try {
    const api = await startApiServer(config, logger);
    api.shutdown.installSignalHandlers();
  } catch (error) {
    logger.fatal({ err: error }, 'jobs API failed to start');
    process.exit(1);
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
