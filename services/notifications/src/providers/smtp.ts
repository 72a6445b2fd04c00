import addressparser from 'nodemailer/lib/addressparser';
import MailComposer from 'nodemailer/lib/mail-composer';
import { SmtpPool } from './smtp-pool.js';
import { ProviderError, type DeliveryRequest, type DeliveryResult, type Provider } from './types.js';

export interface SmtpOptions {
  name: string;
  url: string;
  from: string;
  poolSize: number;
  timeoutMs: number;
}

// Placeholders of a composed message, replaced per recipient (plain ASCII tokens MIME leaves alone).
const TO = 'nself-to-placeholder@nself.invalid';
const MESSAGE_ID = '<nself-message-id-placeholder@nself.invalid>';
const NOTIFICATION_ID = 'nself-notification-id-placeholder';
const DATE_LINE = /^Date: .*$/m;
const PLAIN_ADDRESS = /^[\x21-\x7e]{1,254}$/;
const CACHE_SIZE = 200;

function build(composer: MailComposer): Promise<Buffer> {
  return new Promise((resolve, reject) => composer.compile().build((error, built) => (error ? reject(error) : resolve(built))));
}

function rfc2822Date(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'EDNS', 'ECONNREFUSED', 'ECONNRESET', 'ETLS']);

/**
 * Email over SMTP with nodemailer: messages composed by its MailComposer, sent over a pool of its
 * SMTPConnections (any SMTP server: Postfix, SES, Mailpit, …).
 */
export class SmtpProvider implements Provider {
  readonly channel = 'email' as const;
  readonly name: string;
  private readonly pool: SmtpPool;

  constructor(private readonly options: SmtpOptions) {
    this.name = options.name;
    const url = new URL(options.url);
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') {
      throw new Error(`${options.name}: SMTP URL must start with smtp:// or smtps://`);
    }
    const secure = url.protocol === 'smtps:';
    const query = url.searchParams;
    this.pool = new SmtpPool({
      host: url.hostname,
      port: url.port ? Number(url.port) : secure ? 465 : 587,
      secure,
      auth: url.username ? { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } : undefined,
      size: options.poolSize,
      timeoutMs: options.timeoutMs,
      ignoreTLS: query.get('ignoreTLS') === 'true',
      requireTLS: query.get('requireTLS') === 'true',
      rejectUnauthorized: query.get('tlsRejectUnauthorized') !== 'false',
    });
  }

  accepts(): boolean {
    return true;
  }

  /**
   * A message is composed (MIME, encodings) once per distinct content and reused for every recipient
   * of it with the recipient's To, Message-ID, notification id and date put in: a bulk send of one
   * template composes once. Composition is nodemailer's (MailComposer); only those header values differ.
   */
  private readonly composed = new Map<string, Promise<string>>();

  private compose(from: string, request: DeliveryRequest): Promise<string> {
    const { subject, text, html } = request.content;
    const key = JSON.stringify([from, subject, text, html, request.category]);
    let message = this.composed.get(key);
    if (!message) {
      if (this.composed.size >= CACHE_SIZE) this.composed.delete(this.composed.keys().next().value!);
      const composer = new MailComposer({
        from,
        to: TO,
        subject,
        text,
        html,
        messageId: MESSAGE_ID,
        date: new Date(),
        headers: { 'X-Notification-Id': NOTIFICATION_ID, 'X-Notification-Category': request.category },
      });
      message = build(composer).then((built) => built.toString('latin1'));
      message.catch(() => this.composed.delete(key));
      this.composed.set(key, message);
    }
    return message;
  }

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const from = typeof request.settings?.from === 'string' ? request.settings.from : this.options.from;
    // The same Message-ID on every attempt: a copy resent after an in-doubt crash is recognisably the
    // same message to the receiving side.
    const messageId = `<${request.notificationId}@nself.notifications>`;
    try {
      let message: Buffer;
      if (PLAIN_ADDRESS.test(request.to)) {
        const template = await this.compose(from, request);
        const split = template.indexOf('\r\n\r\n');
        const head = template
          .slice(0, split)
          .replace(`To: ${TO}`, `To: ${request.to}`)
          .replace(`Message-ID: ${MESSAGE_ID}`, `Message-ID: ${messageId}`)
          .replace(`X-Notification-ID: ${NOTIFICATION_ID}`, `X-Notification-ID: ${request.notificationId}`)
          .replace(DATE_LINE, `Date: ${rfc2822Date(new Date())}`);
        message = Buffer.from(head + template.slice(split), 'latin1');
      } else {
        // Anything unusual in the address: compose this one message on its own.
        message = await build(
          new MailComposer({
            from,
            to: request.to,
            subject: request.content.subject,
            text: request.content.text,
            html: request.content.html,
            messageId,
            headers: { 'X-Notification-Id': request.notificationId, 'X-Notification-Category': request.category },
          }),
        );
      }
      const sender = addressparser(from, { flatten: true })[0]?.address ?? from;
      await this.pool.send({ from: sender, to: [request.to] }, message);
      return { messageId };
    } catch (error) {
      throw classifySmtpError(this.name, error);
    }
  }

  async close(): Promise<void> {
    this.pool.close();
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
