import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { ProviderError, type DeliveryRequest, type DeliveryResult, type Provider } from './types.js';

export interface SmtpOptions {
  name: string;
  url: string;
  from: string;
  poolSize: number;
  timeoutMs: number;
}

const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'ETLS']);

/** Email over SMTP with a pooled nodemailer transport (any SMTP server: Postfix, SES, Mailpit, …). */
export class SmtpProvider implements Provider {
  readonly channel = 'email' as const;
  readonly name: string;
  private readonly transport: Transporter<SMTPPool.SentMessageInfo>;

  constructor(private readonly options: SmtpOptions) {
    this.name = options.name;
    const url = new URL(options.url);
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      throw new Error(`${options.name}: SMTP URL must start with smtp:// or smtps://`);
    }
    const secure = url.protocol === 'smtps:';
    const query = url.searchParams;
    this.transport = nodemailer.createTransport({
      pool: true,
      host: url.hostname,
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      auth: url.username
        ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) }
        : undefined,
      maxConnections: options.poolSize,
      maxMessages: Infinity,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      ignoreTLS: query.get('ignoreTLS') === 'true',
      requireTLS: query.get('requireTLS') === 'true',
      tls: { rejectUnauthorized: query.get('tlsRejectUnauthorized') !== 'false' },
    });
  }

  accepts(): boolean {
    return true;
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const from = typeof request.settings?.from === 'string' ? request.settings.from : this.options.from;
    try {
      const info = await this.transport.sendMail({
        from,
        to: request.to,
        subject: request.content.subject,
        text: request.content.text,
        html: request.content.html,
        // The same Message-ID on every attempt: a copy resent after an in-doubt crash is recognisably
        // the same message to the receiving side.
        messageId: `<${request.notificationId}@nself.notifications>`,
        headers: { 'X-Notification-Id': request.notificationId, 'X-Notification-Category': request.category },
      });
      return { messageId: info.messageId ?? null };
    } catch (error) {
      throw classifySmtpError(this.name, error);
    }
  }

  async close(): Promise<void> {
    this.transport.close();
  }
}

export function classifySmtpError(provider: string, error: unknown): ProviderError {
  const e = error as { code?: string; responseCode?: number; response?: string; message?: string };
  const status = e.responseCode ?? e.code;
  const text = (e.response ?? e.message ?? 'SMTP error').slice(0, 300);
  if (typeof e.responseCode === 'number') {
    return new ProviderError(`${provider}: ${text}`, e.responseCode >= 500 ? 'permanent' : 'transient', { status });
  }
  if (e.code === 'EAUTH' || e.code === 'EMESSAGE' || e.code === 'EENVELOPE') {
    return new ProviderError(`${provider}: ${text}`, 'permanent', { status });
  }
  // Connection-level failures (refused, reset, timeouts, TLS) and anything unknown are retried.
  const reason = TRANSIENT_CODES.has(e.code ?? '') ? text : `${text} (${e.code ?? 'unknown'})`;
  return new ProviderError(`${provider}: ${reason}`, 'transient', { status });
}
