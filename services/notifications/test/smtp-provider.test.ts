import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpProvider } from '../src/providers/smtp.js';
import { ProviderError, type DeliveryRequest } from '../src/providers/types.js';
import { parseMail } from './helpers.js';

// The SMTP provider against real smtp-server instances: authentication, a server that drops the
// connection, and many recipients of one composed message.
const servers: SMTPServer[] = [];
const providers: SmtpProvider[] = [];
afterEach(async () => {
  for (const p of providers.splice(0)) await p.close();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
});

async function server(options: ConstructorParameters<typeof SMTPServer>[0]): Promise<number> {
  const s = new SMTPServer({ disabledCommands: ['STARTTLS'], logger: false, ...options });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return (s.server.address() as AddressInfo).port;
}

function provider(url: string): SmtpProvider {
  const p = new SmtpProvider({ name: 'smtp', url, from: 'App <app@example.com>', poolSize: 2, timeoutMs: 5000 });
  providers.push(p);
  return p;
}

const request = (id: string, to: string): DeliveryRequest => ({
  notificationId: id,
  sourceAccountId: 'a',
  userId: 'u',
  channel: 'email',
  to,
  content: { subject: 'Hello', text: 'Hi there', html: '<p>Hi there</p>' },
  category: 'general',
});

describe('SMTP provider', () => {
  it('authenticates with the credentials of the URL, and is refused without them', async () => {
    const received: string[] = [];
    const port = await server({
      allowInsecureAuth: true,
      onAuth(auth, _session, callback) {
        if (auth.username === 'mailer' && auth.password === 's3cret/+') callback(null, { user: 'mailer' });
        else callback(new Error('Invalid username or password'));
      },
      onData(stream, session, callback) {
        stream.resume();
        stream.on('end', () => {
          received.push(session.user as string);
          callback();
        });
      },
    });
    const ok = provider(`smtp://mailer:${encodeURIComponent('s3cret/+')}@127.0.0.1:${port}?ignoreTLS=true`);
    await ok.send(request('0190b6a0-0000-7000-8000-000000000001', 'a@example.com'));
    expect(received).toEqual(['mailer']);
    const wrong = provider(`smtp://mailer:nope@127.0.0.1:${port}?ignoreTLS=true`);
    const error = await wrong.send(request('0190b6a0-0000-7000-8000-000000000002', 'a@example.com')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('permanent');
  });

  it('reports a dropped connection as transient and carries on with a new one', async () => {
    let calls = 0;
    const raws: string[] = [];
    const port = await server({
      authOptional: true,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          calls += 1;
          if (calls === 1) {
            // 421: the server is shutting down this channel (and closes the connection).
            const error = new Error('Service not available, closing transmission channel') as Error & { responseCode: number };
            error.responseCode = 421;
            callback(error);
            return;
          }
          raws.push(Buffer.concat(chunks).toString('utf8'));
          callback();
        });
      },
    });
    const smtp = provider(`smtp://127.0.0.1:${port}?ignoreTLS=true`);
    const first = await smtp.send(request('0190b6a0-0000-7000-8000-000000000003', 'a@example.com')).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(ProviderError);
    expect((first as ProviderError).kind).toBe('transient');
    expect((first as ProviderError).message).toMatch(/421/);
    await smtp.send(request('0190b6a0-0000-7000-8000-000000000004', 'b@example.com'));
    expect(raws).toHaveLength(1);
  });

  it('composes a message once and personalises it for each recipient', async () => {
    const raws: string[] = [];
    const port = await server({
      authOptional: true,
      onData(stream, _session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          raws.push(Buffer.concat(chunks).toString('utf8'));
          callback();
        });
      },
    });
    const smtp = provider(`smtp://127.0.0.1:${port}?ignoreTLS=true`);
    const ids = Array.from({ length: 20 }, (_, i) => `0190b6a0-0000-7000-8000-${String(i).padStart(12, '0')}`);
    await Promise.all(ids.map((id, i) => smtp.send(request(id, `user${i}@example.com`))));
    const mails = await Promise.all(raws.map(parseMail));
    expect(mails.map((m) => m.headers.get('x-notification-id')).sort()).toEqual(ids);
    for (const mail of mails) {
      const id = String(mail.headers.get('x-notification-id'));
      const index = ids.indexOf(id);
      expect((mail.to as { value: { address: string }[] }).value[0]!.address).toBe(`user${index}@example.com`);
      expect(mail.messageId).toBe(`<${id}@nself.notifications>`);
      expect(mail).toMatchObject({ subject: 'Hello', text: 'Hi there', html: '<p>Hi there</p>' });
    }
  });
});
