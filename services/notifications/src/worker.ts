import { ConfigError } from '@nself/config';
import { loadNotificationsConfig } from './config.js';
import { startWorker } from './runtime.js';

try {
  const worker = await startWorker(loadNotificationsConfig());
  worker.shutdown.installSignalHandlers();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
