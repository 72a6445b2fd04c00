import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { basicAuth, callProvider, joinUrl } from './http.js';
import { networkError, ProviderError, type DeliveryRequest, type DeliveryResult, type Provider } from './types.js';

const isPhone = (address: string) => /^\+[1-9]\d{6,14}$/.test(address);

/** Twilio Programmable Messaging: POST /2010-04-01/Accounts/{sid}/Messages.json (form-encoded). */
export class TwilioProvider implements Provider {
  readonly name = 'twilio';
  readonly channel = 'sms' as const;

  constructor(
    private readonly options: {
      accountSid: string;
      authToken: string;
      from: string;
      baseUrl: string;
      statusCallbackUrl?: string;
      timeoutMs: number;
    },
  ) {}

  accepts = isPhone;

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const form = new URLSearchParams({ To: request.to, Body: request.content.sms ?? '' });
    // A Messaging Service SID (MG…) picks the sender itself; otherwise From is a number or sender id.
    if (this.options.from.startsWith('MG')) form.set('MessagingServiceSid', this.options.from);
    else form.set('From', this.options.from);
    if (this.options.statusCallbackUrl) form.set('StatusCallback', this.options.statusCallbackUrl);
    const response = await callProvider(
      'twilio',
      joinUrl(this.options.baseUrl, `2010-04-01/Accounts/${encodeURIComponent(this.options.accountSid)}/Messages.json`),
      {
        method: 'POST',
        headers: {
          authorization: basicAuth(this.options.accountSid, this.options.authToken),
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: form.toString(),
        timeoutMs: this.options.timeoutMs,
      },
      (r) => {
        const body = r.body as { code?: number; message?: string };
        return { message: body.message, code: body.code !== undefined ? String(body.code) : undefined };
      },
    );
    return { messageId: (response.body as { sid?: string }).sid ?? null };
  }
}

/** Plivo: POST /v1/Account/{auth_id}/Message/ (JSON). */
export class PlivoProvider implements Provider {
  readonly name = 'plivo';
  readonly channel = 'sms' as const;

  constructor(
    private readonly options: {
      authId: string;
      authToken: string;
      from: string;
      baseUrl: string;
      statusCallbackUrl?: string;
      timeoutMs: number;
    },
  ) {}

  accepts = isPhone;

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const response = await callProvider(
      'plivo',
      joinUrl(this.options.baseUrl, `v1/Account/${encodeURIComponent(this.options.authId)}/Message/`),
      {
        method: 'POST',
        headers: {
          authorization: basicAuth(this.options.authId, this.options.authToken),
          'content-type': 'application/json',
        },
        body: JSON.stringify({
          src: this.options.from.replace(/^\+/, ''),
          dst: request.to.replace(/^\+/, ''),
          text: request.content.sms ?? '',
          ...(this.options.statusCallbackUrl ? { url: this.options.statusCallbackUrl, method: 'POST' } : {}),
        }),
        timeoutMs: this.options.timeoutMs,
      },
      (r) => ({ message: (r.body as { error?: string }).error }),
    );
    const uuids = (response.body as { message_uuid?: string[] }).message_uuid;
    return { messageId: uuids?.[0] ?? null };
  }
}

/** Amazon SNS direct-to-phone SMS (Publish with PhoneNumber), through the AWS SDK. */
export class SnsProvider implements Provider {
  readonly name = 'sns';
  readonly channel = 'sms' as const;
  private readonly client: SNSClient;

  constructor(
    private readonly options: {
      region: string;
      accessKeyId?: string;
      secretAccessKey?: string;
      endpoint?: string;
      from?: string;
      timeoutMs: number;
    },
  ) {
    this.client = new SNSClient({
      region: options.region,
      endpoint: options.endpoint,
      // Retries belong to the notification pipeline (backoff, failover), not to the SDK.
      maxAttempts: 1,
      credentials:
        options.accessKeyId && options.secretAccessKey
          ? { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey }
          : undefined,
    });
  }

  accepts = isPhone;

  async send(request: DeliveryRequest): Promise<DeliveryResult> {
    const attributes: Record<string, { DataType: string; StringValue: string }> = {
      'AWS.SNS.SMS.SMSType': { DataType: 'String', StringValue: 'Transactional' },
    };
    const from = this.options.from;
    if (from?.startsWith('+')) attributes['AWS.MM.SMS.OriginationNumber'] = { DataType: 'String', StringValue: from };
    else if (from) attributes['AWS.SNS.SMS.SenderID'] = { DataType: 'String', StringValue: from };
    try {
      const result = await this.client.send(
        new PublishCommand({ PhoneNumber: request.to, Message: request.content.sms ?? '', MessageAttributes: attributes }),
        { abortSignal: AbortSignal.timeout(this.options.timeoutMs) },
      );
      return { messageId: result.MessageId ?? null };
    } catch (error) {
      const e = error as { name?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      if (status === undefined) throw networkError('sns', error);
      const transient = e.$fault === 'server' || status === 429 || /Throttl/i.test(e.name ?? '');
      throw new ProviderError(`sns: HTTP ${status} ${e.name ?? ''}: ${e.message ?? ''}`.slice(0, 500), transient ? 'transient' : 'permanent', {
        status,
        providerCode: e.name,
      });
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
