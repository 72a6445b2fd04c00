import { tmpdir } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { authEnv } from '@nself/auth';
import { commonEnv, env, loadConfig } from '@nself/config';

export const CHANNELS = ['email', 'push', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];

const PUSH_PROVIDERS = ['webpush', 'fcm', 'onesignal'] as const;
const SMS_PROVIDERS = ['twilio', 'plivo', 'sns'] as const;

/** A comma-separated list whose items must come from `allowed` (order = priority). */
const providerList = <T extends string>(allowed: readonly T[]) =>
  env.list('').pipe(z.array(z.enum(allowed as unknown as [T, ...T[]])));

const optionalUrl = () =>
  z
    .string()
    .optional()
    .transform((s) => (s === '' ? undefined : s))
    .pipe(z.url().optional());

/** Every variable the API, the worker and the CLI read. Names keep the SPEC/seed prefix NOTIFICATIONS_. */
export const configSchema = z.object({
  ...commonEnv,
  ...authEnv,
  NOTIFICATIONS_PORT: env.port(3102),
  NOTIFICATIONS_WORKER_PORT: env.port(3112),
  NOTIFICATIONS_CORS_ORIGIN: env.list(''),
  NOTIFICATIONS_MAX_BODY: z.string().default('1mb'),
  DATABASE_URL: z.string().min(1),
  DATABASE_POOL_SIZE: env.int(10, 1),
  AMQP_URL: z.string().min(1).default('amqp://guest:guest@127.0.0.1:5672'),
  NOTIFICATIONS_AMQP_URL: env.optionalString(),
  EVENTS_EXCHANGE: z.string().min(1).default('nself.events'),
  NOTIFICATIONS_QUEUE_BACKEND: z.enum(['rabbitmq']).default('rabbitmq'),
  NOTIFICATIONS_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, ".", "_" and "-" only')
    .default('nself.notifications'),
  NOTIFICATIONS_PREFETCH: env.int(20, 1),
  NOTIFICATIONS_CONCURRENCY: env.int(32, 1),
  NOTIFICATIONS_MAX_ATTEMPTS: env.int(5, 1),
  NOTIFICATIONS_PROVIDER_ATTEMPTS: env.int(2, 1),
  NOTIFICATIONS_RETRY_BASE_MS: env.int(2000, 1),
  NOTIFICATIONS_RETRY_MAX_MS: env.int(600_000, 1),
  NOTIFICATIONS_RETRY_JITTER: z.coerce.number().min(0).max(1).default(0.2),
  NOTIFICATIONS_CLAIM_LEASE_MS: env.int(60_000, 100),
  NOTIFICATIONS_PROVIDER_TIMEOUT_MS: env.int(10_000, 100),
  NOTIFICATIONS_POLL_INTERVAL_MS: env.int(1000, 50),
  NOTIFICATIONS_RELAY_GRACE_MS: env.int(5000, 0),
  NOTIFICATIONS_PUBLISH_TIMEOUT_MS: env.int(2000, 100),
  NOTIFICATIONS_BATCH_INTERVAL: env.int(86_400, 1),
  NOTIFICATIONS_DIGEST_TEMPLATE: z.string().min(1).default('digest'),
  NOTIFICATIONS_BYPASS_CATEGORIES: env.list('transactional,security'),
  NOTIFICATIONS_BULK_MAX: env.int(10_000, 1),
  NOTIFICATIONS_BULK_CHUNK: env.int(100, 1),
  NOTIFICATIONS_MAX_DATA_BYTES: env.int(32_768, 1),
  NOTIFICATIONS_IDEMPOTENCY_TTL_HOURS: env.int(24, 1),
  NOTIFICATIONS_EMIT_SENT_EVENTS: env.bool(true),
  // email
  NOTIFICATIONS_EMAIL_ENABLED: env.bool(true),
  NOTIFICATIONS_EMAIL_FROM: z.string().min(3).default('nself <notifications@localhost>'),
  NOTIFICATIONS_SMTP_URL: env.optionalString(),
  NOTIFICATIONS_SMTP_FALLBACK_URL: env.optionalString(),
  NOTIFICATIONS_SMTP_POOL_SIZE: env.int(5, 1),
  NOTIFICATIONS_DEV_SMTP_SINK: env.bool(true),
  NOTIFICATIONS_DEV_SMTP_PORT: env.port(0),
  NOTIFICATIONS_DEV_SMTP_DIR: z.string().default(path.join(tmpdir(), 'nself-notifications-mail')),
  // push
  NOTIFICATIONS_PUSH_PROVIDER: providerList(PUSH_PROVIDERS),
  NOTIFICATIONS_PUSH_API_KEY: env.optionalString(),
  NOTIFICATIONS_PUSH_SENDER_ID: env.optionalString(),
  NOTIFICATIONS_VAPID_PUBLIC_KEY: env.optionalString(),
  NOTIFICATIONS_VAPID_PRIVATE_KEY: env.optionalString(),
  NOTIFICATIONS_VAPID_SUBJECT: z.string().default('mailto:notifications@localhost'),
  /** PEM file of an extra CA for push services behind a private CA (self-hosted autopush, tests). */
  NOTIFICATIONS_WEBPUSH_CA_FILE: env.optionalString(),
  NOTIFICATIONS_FCM_PROJECT_ID: env.optionalString(),
  NOTIFICATIONS_FCM_SERVICE_ACCOUNT: env.optionalString(),
  NOTIFICATIONS_FCM_BASE_URL: z.url().default('https://fcm.googleapis.com'),
  NOTIFICATIONS_FCM_TOKEN_URL: optionalUrl(),
  NOTIFICATIONS_ONESIGNAL_APP_ID: env.optionalString(),
  NOTIFICATIONS_ONESIGNAL_API_KEY: env.optionalString(),
  NOTIFICATIONS_ONESIGNAL_BASE_URL: z.url().default('https://api.onesignal.com'),
  // sms
  NOTIFICATIONS_SMS_PROVIDER: providerList(SMS_PROVIDERS),
  NOTIFICATIONS_SMS_ACCOUNT_SID: env.optionalString(),
  NOTIFICATIONS_SMS_AUTH_TOKEN: env.optionalString(),
  NOTIFICATIONS_SMS_FROM: env.optionalString(),
  NOTIFICATIONS_TWILIO_BASE_URL: z.url().default('https://api.twilio.com'),
  NOTIFICATIONS_PLIVO_AUTH_ID: env.optionalString(),
  NOTIFICATIONS_PLIVO_AUTH_TOKEN: env.optionalString(),
  NOTIFICATIONS_PLIVO_BASE_URL: z.url().default('https://api.plivo.com'),
  NOTIFICATIONS_SNS_REGION: z.string().default('us-east-1'),
  NOTIFICATIONS_SNS_ACCESS_KEY_ID: env.optionalString(),
  NOTIFICATIONS_SNS_SECRET_ACCESS_KEY: env.optionalString(),
  NOTIFICATIONS_SNS_ENDPOINT: optionalUrl(),
  // webhooks
  NOTIFICATIONS_PUBLIC_URL: optionalUrl(),
  NOTIFICATIONS_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  NOTIFICATIONS_WEBHOOK_TOLERANCE_SECONDS: env.int(300, 1),
});

export type Env = z.output<typeof configSchema>;

export interface NotificationsConfig {
  env: Env;
  /** The AMQP URL of the notification queues (NOTIFICATIONS_AMQP_URL, else AMQP_URL). */
  queueUrl: string;
  emailProviders: 'smtp'[];
  pushProviders: (typeof PUSH_PROVIDERS)[number][];
  smsProviders: (typeof SMS_PROVIDERS)[number][];
}

/** Parses the environment once; a ConfigError names the variables that are missing or invalid. */
export function loadNotificationsConfig(source: NodeJS.ProcessEnv = process.env): NotificationsConfig {
  const parsed = loadConfig(configSchema, source);
  // Without an explicit list, every push/SMS provider whose credentials are present is used, in the
  // order below (which is also the failover order).
  const pushProviders = parsed.NOTIFICATIONS_PUSH_PROVIDER.length
    ? parsed.NOTIFICATIONS_PUSH_PROVIDER
    : PUSH_PROVIDERS.filter((name) =>
        name === 'webpush'
          ? Boolean(parsed.NOTIFICATIONS_VAPID_PUBLIC_KEY && parsed.NOTIFICATIONS_VAPID_PRIVATE_KEY)
          : name === 'fcm'
            ? Boolean(parsed.NOTIFICATIONS_FCM_SERVICE_ACCOUNT)
            : Boolean(parsed.NOTIFICATIONS_ONESIGNAL_APP_ID),
      );
  const smsProviders = parsed.NOTIFICATIONS_SMS_PROVIDER.length
    ? parsed.NOTIFICATIONS_SMS_PROVIDER
    : SMS_PROVIDERS.filter((name) =>
        name === 'twilio'
          ? Boolean(parsed.NOTIFICATIONS_SMS_ACCOUNT_SID && parsed.NOTIFICATIONS_SMS_AUTH_TOKEN)
          : name === 'plivo'
            ? Boolean(parsed.NOTIFICATIONS_PLIVO_AUTH_ID)
            : Boolean(parsed.NOTIFICATIONS_SNS_ACCESS_KEY_ID),
      );
  return {
    env: parsed,
    queueUrl: parsed.NOTIFICATIONS_AMQP_URL ?? parsed.AMQP_URL,
    emailProviders: parsed.NOTIFICATIONS_EMAIL_ENABLED ? ['smtp'] : [],
    pushProviders,
    smsProviders,
  };
}
