import { ConfigError } from '@nself/config';
import type { PrismaClient } from '@nself/db';
import type { Channel, NotificationsConfig } from '../config.js';
import { FcmProvider, loadServiceAccount, OneSignalProvider, WebPushProvider } from './push.js';
import { PlivoProvider, SnsProvider, TwilioProvider } from './sms.js';
import { SmtpProvider } from './smtp.js';
import type { Provider } from './types.js';

export interface RankedProvider {
  provider: Provider;
  priority: number;
  settings: Record<string, unknown>;
}

export interface ProviderInfo {
  name: string;
  channel: Channel;
  priority: number;
}

/** What the worker needs from the providers: the failover order for one delivery. */
export interface ProviderRegistry {
  /** Providers of the channel that accept the address, in priority order (lower first) for the account. */
  forDelivery(sourceAccountId: string, channel: Channel, address: string): Promise<RankedProvider[]>;
  list(): ProviderInfo[];
  close(): Promise<void>;
}

function requireVars(values: Record<string, string | undefined>, why: string): void {
  const missing = Object.entries(values).filter(([, v]) => !v);
  if (missing.length) throw new ConfigError(missing.map(([variable]) => ({ variable, problem: `is required ${why}` })));
}

/**
 * Builds every configured provider. The failover order is the env order (SMTP first, then the
 * fallback SMTP; NOTIFICATIONS_PUSH_PROVIDER and NOTIFICATIONS_SMS_PROVIDER lists); an app can
 * reorder or disable providers for itself through notification_providers (PUT /v1/providers/...).
 */
export function createProviders(config: NotificationsConfig, smtpUrl: string | undefined): Provider[] {
  const e = config.env;
  const timeoutMs = e.NOTIFICATIONS_PROVIDER_TIMEOUT_MS;
  const callback = (path: string) => (e.NOTIFICATIONS_PUBLIC_URL ? `${e.NOTIFICATIONS_PUBLIC_URL.replace(/\/+$/, '')}${path}` : undefined);
  const providers: Provider[] = [];
  if (config.emailProviders.length && smtpUrl) {
    const common = { from: e.NOTIFICATIONS_EMAIL_FROM, poolSize: e.NOTIFICATIONS_SMTP_POOL_SIZE, timeoutMs };
    providers.push(new SmtpProvider({ name: 'smtp', url: smtpUrl, ...common }));
    if (e.NOTIFICATIONS_SMTP_FALLBACK_URL) {
      providers.push(new SmtpProvider({ name: 'smtp-fallback', url: e.NOTIFICATIONS_SMTP_FALLBACK_URL, ...common }));
    }
  }
  for (const name of config.pushProviders) {
    if (name === 'webpush') {
      requireVars(
        { NOTIFICATIONS_VAPID_PUBLIC_KEY: e.NOTIFICATIONS_VAPID_PUBLIC_KEY, NOTIFICATIONS_VAPID_PRIVATE_KEY: e.NOTIFICATIONS_VAPID_PRIVATE_KEY },
        'for Web Push',
      );
      providers.push(
        new WebPushProvider({
          publicKey: e.NOTIFICATIONS_VAPID_PUBLIC_KEY!,
          privateKey: e.NOTIFICATIONS_VAPID_PRIVATE_KEY!,
          subject: e.NOTIFICATIONS_VAPID_SUBJECT,
          caFile: e.NOTIFICATIONS_WEBPUSH_CA_FILE,
          timeoutMs,
        }),
      );
    } else if (name === 'fcm') {
      requireVars({ NOTIFICATIONS_FCM_SERVICE_ACCOUNT: e.NOTIFICATIONS_FCM_SERVICE_ACCOUNT }, 'for FCM');
      const serviceAccount = loadServiceAccount(e.NOTIFICATIONS_FCM_SERVICE_ACCOUNT!);
      const projectId = e.NOTIFICATIONS_FCM_PROJECT_ID ?? e.NOTIFICATIONS_PUSH_SENDER_ID ?? serviceAccount.project_id;
      requireVars({ NOTIFICATIONS_FCM_PROJECT_ID: projectId }, 'for FCM (or project_id in the service account)');
      providers.push(
        new FcmProvider({
          projectId: projectId!,
          serviceAccount,
          baseUrl: e.NOTIFICATIONS_FCM_BASE_URL,
          tokenUrl: e.NOTIFICATIONS_FCM_TOKEN_URL,
          timeoutMs,
        }),
      );
    } else {
      const apiKey = e.NOTIFICATIONS_ONESIGNAL_API_KEY ?? e.NOTIFICATIONS_PUSH_API_KEY;
      requireVars(
        { NOTIFICATIONS_ONESIGNAL_APP_ID: e.NOTIFICATIONS_ONESIGNAL_APP_ID, NOTIFICATIONS_ONESIGNAL_API_KEY: apiKey },
        'for OneSignal',
      );
      providers.push(
        new OneSignalProvider({
          appId: e.NOTIFICATIONS_ONESIGNAL_APP_ID!,
          apiKey: apiKey!,
          baseUrl: e.NOTIFICATIONS_ONESIGNAL_BASE_URL,
          timeoutMs,
        }),
      );
    }
  }
  for (const name of config.smsProviders) {
    if (name === 'twilio') {
      requireVars(
        {
          NOTIFICATIONS_SMS_ACCOUNT_SID: e.NOTIFICATIONS_SMS_ACCOUNT_SID,
          NOTIFICATIONS_SMS_AUTH_TOKEN: e.NOTIFICATIONS_SMS_AUTH_TOKEN,
          NOTIFICATIONS_SMS_FROM: e.NOTIFICATIONS_SMS_FROM,
        },
        'for Twilio',
      );
      providers.push(
        new TwilioProvider({
          accountSid: e.NOTIFICATIONS_SMS_ACCOUNT_SID!,
          authToken: e.NOTIFICATIONS_SMS_AUTH_TOKEN!,
          from: e.NOTIFICATIONS_SMS_FROM!,
          baseUrl: e.NOTIFICATIONS_TWILIO_BASE_URL,
          statusCallbackUrl: callback('/v1/webhooks/twilio'),
          timeoutMs,
        }),
      );
    } else if (name === 'plivo') {
      requireVars(
        {
          NOTIFICATIONS_PLIVO_AUTH_ID: e.NOTIFICATIONS_PLIVO_AUTH_ID,
          NOTIFICATIONS_PLIVO_AUTH_TOKEN: e.NOTIFICATIONS_PLIVO_AUTH_TOKEN,
          NOTIFICATIONS_SMS_FROM: e.NOTIFICATIONS_SMS_FROM,
        },
        'for Plivo',
      );
      providers.push(
        new PlivoProvider({
          authId: e.NOTIFICATIONS_PLIVO_AUTH_ID!,
          authToken: e.NOTIFICATIONS_PLIVO_AUTH_TOKEN!,
          from: e.NOTIFICATIONS_SMS_FROM!,
          baseUrl: e.NOTIFICATIONS_PLIVO_BASE_URL,
          timeoutMs,
        }),
      );
    } else {
      providers.push(
        new SnsProvider({
          region: e.NOTIFICATIONS_SNS_REGION,
          accessKeyId: e.NOTIFICATIONS_SNS_ACCESS_KEY_ID,
          secretAccessKey: e.NOTIFICATIONS_SNS_SECRET_ACCESS_KEY,
          endpoint: e.NOTIFICATIONS_SNS_ENDPOINT,
          from: e.NOTIFICATIONS_SMS_FROM,
          timeoutMs,
        }),
      );
    }
  }
  return providers;
}

interface Override {
  channel: string;
  name: string;
  priority: number;
  enabled: boolean;
  config: unknown;
}

/** Orders providers per account, applying that account's notification_providers rows (cached briefly). */
export function createProviderRegistry(
  providers: Provider[],
  prisma: Pick<PrismaClient, 'notificationProvider'> | null,
  options: { cacheMs?: number } = {},
): ProviderRegistry {
  const cacheMs = options.cacheMs ?? 5000;
  const defaults = new Map<string, number>();
  const perChannel = new Map<Channel, number>();
  for (const provider of providers) {
    const index = (perChannel.get(provider.channel) ?? 0) + 1;
    perChannel.set(provider.channel, index);
    defaults.set(provider.name, index * 10);
  }
  const cache = new Map<string, { at: number; rows: Override[] }>();

  async function overrides(sourceAccountId: string): Promise<Override[]> {
    if (!prisma) return [];
    const hit = cache.get(sourceAccountId);
    if (hit && Date.now() - hit.at < cacheMs) return hit.rows;
    const rows = await prisma.notificationProvider.findMany({ where: { sourceAccountId } });
    cache.set(sourceAccountId, { at: Date.now(), rows });
    return rows;
  }

  return {
    async forDelivery(sourceAccountId, channel, address) {
      const rows = await overrides(sourceAccountId);
      const ranked: RankedProvider[] = [];
      for (const provider of providers) {
        if (provider.channel !== channel || !provider.accepts(address)) continue;
        const override = rows.find((r) => r.channel === channel && r.name === provider.name);
        if (override && !override.enabled) continue;
        const settings = override?.config && typeof override.config === 'object' ? (override.config as Record<string, unknown>) : {};
        ranked.push({ provider, priority: override?.priority ?? defaults.get(provider.name)!, settings });
      }
      return ranked.sort((a, b) => a.priority - b.priority);
    },
    list: () => providers.map((p) => ({ name: p.name, channel: p.channel, priority: defaults.get(p.name)! })),
    async close() {
      await Promise.all(providers.map((p) => p.close?.()));
    },
  };
}
