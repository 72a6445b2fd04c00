export { loadConfig, configFromEnv, realtimeEnvSchema, type RealtimeConfig, type RealtimeEnv } from './config.js';
export { createRealtimeService, type RealtimeService } from './service.js';
export { createRealtimeApp, type RealtimeAppDeps } from './app.js';
export { createKeys, rooms as roomNames } from './keys.js';
export type * from '@nself/realtime-client/contracts';
