import { ConfigError } from '@nself/config';
import { startServer } from './server.js';

// The idme HTTP service entry point (dist/main.js); `nself-idme server` runs the same.
startServer().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
