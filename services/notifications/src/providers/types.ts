import type { Channel } from '../config.js';
import type { RenderedContent } from '../domain/types.js';

export interface DeliveryRequest {
  notificationId: string;
  sourceAccountId: string;
  userId: string;
  channel: Channel;
  /** The normalized address: email, E.164 phone, Web Push subscription JSON or device token. */
  to: string;
  content: RenderedContent;
  category: string;
  /** Per-account settings from notification_providers.config (e.g. a different "from"). */
  settings?: Record<string, unknown>;
}

export interface DeliveryResult {
  /** The provider's id for the message (for webhooks and support); null when it gives none. */
  messageId: string | null;
}

/**
 * How a failure should be treated: `transient` is retried on the same provider with backoff;
 * `permanent` means this provider will not take this message (bad credentials, rejected recipient),
 * so the next provider is tried.
 */
export type FailureKind = 'transient' | 'permanent';

export class ProviderError extends Error {
  constructor(
    message: string,
    readonly kind: FailureKind,
    readonly detail: { status?: number | string; providerCode?: string } = {},
  ) {
    super(message);
    this.name = 'ProviderError';
  }
}

/** One delivery channel implementation (SMTP, Twilio, FCM, …). */
export interface Provider {
  /** Unique name: smtp, smtp-fallback, webpush, fcm, onesignal, twilio, plivo, sns. */
  readonly name: string;
  readonly channel: Channel;
  /** Whether this provider can deliver to this address (e.g. Web Push needs a subscription). */
  accepts(address: string): boolean;
  send(request: DeliveryRequest): Promise<DeliveryResult>;
  close?(): Promise<void>;
}

/** Maps an HTTP status of a provider API to a failure kind. */
export function kindForStatus(status: number): FailureKind {
  return status === 408 || status === 425 || status === 429 || status >= 500 ? 'transient' : 'permanent';
}

/** Errors thrown by fetch itself (DNS, refused, reset, timeout) are worth retrying. */
export function networkError(provider: string, error: unknown): ProviderError {
  const e = error as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code;
  const reason = e.name === 'TimeoutError' ? 'timed out' : (code ?? e.message ?? 'network error');
  return new ProviderError(`${provider}: ${reason}`, 'transient', { status: code ?? e.name });
}
