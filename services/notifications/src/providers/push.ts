import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { importPKCS8, SignJWT } from 'jose';
import { rootCertificates } from 'node:tls';
import webpush from 'web-push';

const tlsRootCertificates = () => [...rootCertificates];
import { parsePushAddress } from '../domain/addresses.js';
import { callProvider, joinUrl } from './http.js';
import { networkError, ProviderError, type DeliveryRequest, type DeliveryResult, type Provider } from './types.js';

function pushPayload(request: DeliveryRequest): { title: string; body: string; data: Record<string, string> } {
  return {
    title: request.content.title ?? '',
    body: request.content.body ?? '',
    data: { notificationId: request.notificationId, category: request.category },
  };
}

/** Web Push (RFC 8030 + VAPID, RFC 8292) to a browser subscription; the push service is the endpoint. */
export class WebPushProvider implements Provider {
  readonly name = 'webpush';
  readonly channel = 'push' as const;
  private readonly agent: Agent;

  constructor(
    private readonly options: { publicKey: string; privateKey: string; subject: string; timeoutMs: number; caFile?: string },
  ) {
    // Fails fast on malformed keys (web-push validates them).
    webpush.getVapidHeaders('https://push.example', options.subject, options.publicKey, options.privateKey, 'aes128gcm');
    // Push services are HTTPS; a private CA can be added (the system CAs stay trusted too).
    this.agent = new Agent({
      keepAlive: true,
      ...(options.caFile ? { ca: [...tlsRootCertificates(), readFileSync(options.caFile, 'utf8')] } : {}),
    });
  }

  accepts(address: string): boolean {
    return parsePushAddress(address)?.kind === 'webpush';
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const address = parsePushAddress(request.to);
    if (address?.kind !== 'webpush') throw new ProviderError('webpush: not a Web Push subscription', 'permanent');
    try {
      const result = await webpush.sendNotification(address.subscription, JSON.stringify(pushPayload(request)), {
        vapidDetails: { subject: this.options.subject, publicKey: this.options.publicKey, privateKey: this.options.privateKey },
        TTL: 86_400,
        timeout: this.options.timeoutMs,
        urgency: 'normal',
        agent: this.agent,
      });
      const location = result.headers.location ?? result.headers.Location;
      return { messageId: typeof location === 'string' ? location : null };
    } catch (error) {
      const e = error as { statusCode?: number; body?: string; message?: string };
      if (typeof e.statusCode === 'number') {
        // 404/410: the subscription is gone; other 4xx: the request is wrong; 429/5xx: try again later.
        const kind = e.statusCode === 429 || e.statusCode >= 500 ? 'transient' : 'permanent';
        throw new ProviderError(`webpush: HTTP ${e.statusCode} ${String(e.body ?? '').slice(0, 200)}`, kind, {
          status: e.statusCode,
        });
      }
      throw networkError('webpush', error);
    }
  }
}

interface ServiceAccount {
  client_email: string;
  private_key: string;
  token_uri?: string;
  project_id?: string;
}

/** Reads NOTIFICATIONS_FCM_SERVICE_ACCOUNT: the service-account JSON itself or a path to it. */
export function loadServiceAccount(value: string): ServiceAccount {
  const text = value.trim().startsWith('{') ? value : readFileSync(value, 'utf8');
  const parsed = JSON.parse(text) as ServiceAccount;
  if (!parsed.client_email || !parsed.private_key) {
    throw new Error('NOTIFICATIONS_FCM_SERVICE_ACCOUNT needs client_email and private_key');
  }
  return parsed;
}

/** Firebase Cloud Messaging HTTP v1 (messages:send) with an OAuth2 token from a service account. */
export class FcmProvider implements Provider {
  readonly name = 'fcm';
  readonly channel = 'push' as const;
  private token: { value: string; expiresAt: number } | undefined;
  private tokenRequest: Promise<string> | undefined;
  private readonly tokenUrl: string;

  constructor(
    private readonly options: {
      projectId: string;
      serviceAccount: ServiceAccount;
      baseUrl: string;
      tokenUrl?: string;
      timeoutMs: number;
    },
  ) {
    this.tokenUrl = options.tokenUrl ?? options.serviceAccount.token_uri ?? 'https://oauth2.googleapis.com/token';
  }

  accepts(address: string): boolean {
    return parsePushAddress(address)?.kind === 'token';
  }

  private async accessToken(): Promise<string> {
    if (this.token && this.token.expiresAt > Date.now() + 60_000) return this.token.value;
    this.tokenRequest ??= this.fetchToken().finally(() => {
      this.tokenRequest = undefined;
    });
    return this.tokenRequest;
  }

  private async fetchToken(): Promise<string> {
    let assertion: string;
    try {
      const key = await importPKCS8(this.options.serviceAccount.private_key, 'RS256');
      assertion = await new SignJWT({ scope: 'https://www.googleapis.com/auth/firebase.messaging' })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT' })
        .setIssuer(this.options.serviceAccount.client_email)
        .setAudience(this.tokenUrl)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(key);
    } catch (error) {
      throw new ProviderError(`fcm: cannot sign the token request: ${(error as Error).message}`, 'permanent');
    }
    const response = await callProvider('fcm', this.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString(),
      timeoutMs: this.options.timeoutMs,
    });
    const body = response.body as { access_token?: string; expires_in?: number };
    if (!body.access_token) throw new ProviderError('fcm: token endpoint returned no access_token', 'transient');
    this.token = { value: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 3600) * 1000 };
    return body.access_token;
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const token = await this.accessToken();
    const payload = pushPayload(request);
    const response = await callProvider(
      'fcm',
      joinUrl(this.options.baseUrl, `v1/projects/${encodeURIComponent(this.options.projectId)}/messages:send`),
      {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          message: {
            token: request.to,
            notification: { title: payload.title, body: payload.body },
            data: payload.data,
          },
        }),
        timeoutMs: this.options.timeoutMs,
      },
      (r) => {
        const error = (r.body as { error?: { status?: string; message?: string } }).error;
        if (r.status === 401) this.token = undefined;
        // UNREGISTERED / INVALID_ARGUMENT will not get better; UNAVAILABLE / INTERNAL / QUOTA will.
        return { message: error?.message, code: error?.status };
      },
    );
    return { messageId: (response.body as { name?: string }).name ?? null };
  }
}

/** OneSignal's REST API (POST /notifications); the address is the user's external_id. */
export class OneSignalProvider implements Provider {
  readonly name = 'onesignal';
  readonly channel = 'push' as const;

  constructor(private readonly options: { appId: string; apiKey: string; baseUrl: string; timeoutMs: number }) {}

  accepts(address: string): boolean {
    return parsePushAddress(address)?.kind === 'token';
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const payload = pushPayload(request);
    const response = await callProvider(
      'onesignal',
      joinUrl(this.options.baseUrl, 'notifications?c=push'),
      {
        method: 'POST',
        headers: { authorization: `Key ${this.options.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          app_id: this.options.appId,
          target_channel: 'push',
          include_aliases: { external_id: [request.to] },
          headings: { en: payload.title },
          contents: { en: payload.body || payload.title },
          data: payload.data,
          // OneSignal drops a second request with the same key for 30 days: a resend after an
          // in-doubt crash cannot reach the device twice.
          idempotency_key: request.notificationId,
        }),
        timeoutMs: this.options.timeoutMs,
      },
      (r) => ({ message: JSON.stringify((r.body as { errors?: unknown }).errors ?? '').slice(0, 200) }),
    );
    const body = response.body as { id?: string; errors?: unknown };
    if (!body.id) {
      throw new ProviderError(`onesignal: not sent: ${JSON.stringify(body.errors ?? body).slice(0, 200)}`, 'permanent');
    }
    return { messageId: body.id };
  }
}
