export { createIdmeApp, type IdmeAppOptions } from './app.js';
export { createIdmeDeps } from './wiring.js';
export { startServer } from './server.js';
export {
  idmeEnvSchema,
  loadIdmeConfig,
  loadProviderSettings,
  providerSettings,
  toIdmeConfig,
  type IdmeConfig,
  type ProviderSettings,
} from './config.js';
export type { IdmeDeps } from './deps.js';
export { createIdmeProvider, classifyOidcError, type IdmeProvider } from './adapters/idme-oidc.js';
export { createBadgeCatalog, loadBadgeCatalog, DEFAULT_BADGES_FILE, type BadgeCatalog } from './badges.js';
export { normalizeAttributesPayload, serviceEraOf, KNOWN_GROUPS } from './groups.js';
export { SecretBox } from './crypto.js';
export { flowCookieName } from './routes/auth.js';
export { signWebhook, SIGNATURE_HEADER, TIMESTAMP_HEADER } from './use-cases/handle-webhook.js';
export { checkProviderConfiguration, type ProviderReport } from './use-cases/check-provider.js';
