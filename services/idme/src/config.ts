import { authConfigFromEnv, authEnv, type AuthConfig } from '@nself/auth';
import { commonEnv, env, loadConfig } from '@nself/config';
import { z } from 'zod';

export const PRODUCTION_BASE_URL = 'https://api.id.me';
export const SANDBOX_BASE_URL = 'https://api.idmelabs.com';
/** ID.me's issuer lives under /oidc of its API host (discovery: <issuer>/.well-known/openid-configuration). */
export const ISSUER_PATH = '/oidc';
/** Group status and verification attributes (not userinfo, which carries no group status). */
export const ATTRIBUTES_PATH = '/api/public/v3/attributes.json';

/** Verification attributes kept by default; identity attributes (names, email, birth date…) are not. */
export const DEFAULT_STORED_ATTRIBUTES = [
  'affiliation',
  'branch',
  'service_era',
  'military_branch',
  'military_service_component',
  'military_service_started',
  'military_service_ended',
  'military_status',
  'discharge_type',
  'responder_type',
  'government_level',
  'teacher_level',
  'student_level',
  'school_type',
  'nurse_type',
].join(',');

const optionalUrl = () => env.optionalString().pipe(z.url().optional());

/** 32 bytes for AES-256-GCM, given as 64 hex characters or base64 / base64url. */
const encryptionKey = () =>
  env.optionalString().transform((value, ctx) => {
    if (value === undefined) return undefined;
    const key = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
    if (key.length !== 32) {
      ctx.addIssue({ code: 'custom', message: 'must be 32 bytes as 64 hex characters or base64' });
      return z.NEVER;
    }
    return key;
  });

const idmeEnvObject = z.object({
    ...commonEnv,
    ...authEnv,
    IDME_PORT: env.port(3010),
    IDME_HOST: z.string().default('0.0.0.0'),
    DATABASE_URL: z.url(),
    AMQP_URL: z.url(),
    EVENTS_EXCHANGE: z.string().min(1).default('nself.events'),

    IDME_CLIENT_ID: z.string().min(1),
    IDME_CLIENT_SECRET: z.string().min(1),
    IDME_REDIRECT_URI: z.url(),
    IDME_SCOPES: env.list('openid,email,profile').pipe(z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/)).min(1)),
    IDME_SANDBOX: env.bool(false),
    /** Overrides the ID.me host (issuer <base>/oidc, attributes <base>/api/public/v3/attributes.json). */
    IDME_BASE_URL: optionalUrl(),
    /** Overrides the issuer identifier alone (discovery at <issuer>/.well-known/openid-configuration). */
    IDME_ISSUER_URL: optionalUrl(),
    /** Overrides the attributes endpoint alone. */
    IDME_ATTRIBUTES_URL: optionalUrl(),
    /** Lets the OIDC client talk plain http (local provider in tests/dev). Refused when NODE_ENV=production. */
    IDME_ALLOW_INSECURE_HTTP: env.bool(false),
    IDME_TOKEN_AUTH_METHOD: z.enum(['client_secret_post', 'client_secret_basic']).default('client_secret_post'),
    IDME_HTTP_TIMEOUT_SECONDS: env.int(10, 1),

    /** Where the callback may send the browser back to (origin + path prefix per entry). */
    IDME_ALLOWED_RETURN_URLS: env.list('').pipe(z.array(z.url())),
    IDME_STATE_TTL_SECONDS: env.int(600, 30),
    IDME_COOKIE_SECURE: env.bool(true),

    /** AES-256-GCM key for tokens at rest; without it ID.me tokens are not stored at all. */
    IDME_TOKEN_ENCRYPTION_KEY: encryptionKey(),
    IDME_BADGES_FILE: env.optionalString(),
    /** Attribute handles to keep ("*" keeps all, including identity attributes). */
    IDME_STORE_ATTRIBUTES: env.list(DEFAULT_STORED_ATTRIBUTES),
    /** One ID.me identity may back one user per app (stops sharing a verification between accounts). */
    IDME_UNIQUE_IDENTITY: env.bool(true),

    IDME_WEBHOOK_SECRET: env.optionalString().pipe(z.string().min(32, 'must be at least 32 characters').optional()),
    IDME_WEBHOOK_TOLERANCE_SECONDS: env.int(300, 1),
});

function refuseInsecureInProduction(value: { IDME_ALLOW_INSECURE_HTTP: boolean; NODE_ENV: string }, ctx: z.RefinementCtx): void {
  if (value.IDME_ALLOW_INSECURE_HTTP && value.NODE_ENV === 'production') {
    ctx.addIssue({
      code: 'custom',
      path: ['IDME_ALLOW_INSECURE_HTTP'],
      message: 'may only be enabled with NODE_ENV=development or test',
    });
  }
}

export const idmeEnvSchema = idmeEnvObject.superRefine((value, ctx) => {
  refuseInsecureInProduction(value, ctx);
  if (!value.JWT_SECRET && !value.JWT_JWKS_URL) {
    ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'JWT_SECRET or JWT_JWKS_URL is required' });
  }
});

export type IdmeEnv = z.output<typeof idmeEnvSchema>;

/** Every variable the service reads (plugin.json and .env.example are checked against this list). */
export const IDME_ENV_VARIABLES = Object.keys(idmeEnvObject.shape);

/** The provider side of the configuration: what the OIDC client and the CLI `test` command need. */
export interface ProviderSettings {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  scopes: string[];
  sandbox: boolean;
  issuer: string;
  attributesUrl: string;
  allowInsecureHttp: boolean;
  tokenAuthMethod: 'client_secret_post' | 'client_secret_basic';
  timeoutSeconds: number;
}

export interface IdmeConfig {
  env: IdmeEnv;
  port: number;
  host: string;
  auth: AuthConfig;
  provider: ProviderSettings;
  allowedReturnUrls: string[];
  stateTtlSeconds: number;
  cookieSecure: boolean;
  tokenEncryptionKey?: Buffer;
  badgesFile?: string;
  storeAttributes: string[];
  uniqueIdentity: boolean;
  webhookSecret?: string;
  webhookToleranceSeconds: number;
}

export const providerEnvKeys = {
  NODE_ENV: true,
  IDME_CLIENT_ID: true,
  IDME_CLIENT_SECRET: true,
  IDME_REDIRECT_URI: true,
  IDME_SCOPES: true,
  IDME_SANDBOX: true,
  IDME_BASE_URL: true,
  IDME_ISSUER_URL: true,
  IDME_ATTRIBUTES_URL: true,
  IDME_ALLOW_INSECURE_HTTP: true,
  IDME_TOKEN_AUTH_METHOD: true,
  IDME_HTTP_TIMEOUT_SECONDS: true,
} as const;

type ProviderEnv = Pick<IdmeEnv, keyof typeof providerEnvKeys>;

const trimSlash = (url: string) => url.replace(/\/+$/, '');

export function providerSettings(e: ProviderEnv): ProviderSettings {
  const base = trimSlash(e.IDME_BASE_URL ?? (e.IDME_SANDBOX ? SANDBOX_BASE_URL : PRODUCTION_BASE_URL));
  return {
    clientId: e.IDME_CLIENT_ID,
    clientSecret: e.IDME_CLIENT_SECRET,
    redirectUri: e.IDME_REDIRECT_URI,
    scopes: e.IDME_SCOPES,
    sandbox: e.IDME_SANDBOX,
    issuer: e.IDME_ISSUER_URL ?? `${base}${ISSUER_PATH}`,
    attributesUrl: e.IDME_ATTRIBUTES_URL ?? `${base}${ATTRIBUTES_PATH}`,
    allowInsecureHttp: e.IDME_ALLOW_INSECURE_HTTP,
    tokenAuthMethod: e.IDME_TOKEN_AUTH_METHOD,
    timeoutSeconds: e.IDME_HTTP_TIMEOUT_SECONDS,
  };
}

export function toIdmeConfig(e: IdmeEnv): IdmeConfig {
  return {
    env: e,
    port: e.IDME_PORT,
    host: e.IDME_HOST,
    auth: authConfigFromEnv(e),
    provider: providerSettings(e),
    allowedReturnUrls: e.IDME_ALLOWED_RETURN_URLS,
    stateTtlSeconds: e.IDME_STATE_TTL_SECONDS,
    cookieSecure: e.IDME_COOKIE_SECURE,
    tokenEncryptionKey: e.IDME_TOKEN_ENCRYPTION_KEY,
    badgesFile: e.IDME_BADGES_FILE,
    storeAttributes: e.IDME_STORE_ATTRIBUTES,
    uniqueIdentity: e.IDME_UNIQUE_IDENTITY,
    webhookSecret: e.IDME_WEBHOOK_SECRET,
    webhookToleranceSeconds: e.IDME_WEBHOOK_TOLERANCE_SECONDS,
  };
}

/** Parses the whole environment once; throws ConfigError naming every bad variable. */
export function loadIdmeConfig(source: NodeJS.ProcessEnv = process.env): IdmeConfig {
  return toIdmeConfig(loadConfig(idmeEnvSchema, source));
}

/** Only the provider variables (for `nself-idme test`, which needs no database or broker). */
export function loadProviderSettings(source: NodeJS.ProcessEnv = process.env): ProviderSettings {
  const schema = idmeEnvObject.pick(providerEnvKeys).superRefine(refuseInsecureInProduction);
  return providerSettings(loadConfig(schema, source));
}
