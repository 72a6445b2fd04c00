export { createApp, type ApiDeps } from './app.js';
export { configSchema, loadNotificationsConfig, type NotificationsConfig } from './config.js';
export { startApi, startWorker, type RunningProcess } from './runtime.js';
export { signGeneric, twilioSignature } from './use-cases/webhooks.js';
