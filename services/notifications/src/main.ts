import { ConfigError } from '@nself/config';
import { loadNotificationsConfig } from './config.js';
import { startApi } from './runtime.js';

try {
  const api = await startApi(loadNotificationsConfig());
  api.shutdown.installSignalHandlers();
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
}
