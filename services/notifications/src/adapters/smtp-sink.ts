import { mkdirSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from '@nself/logging';
import { SMTPServer } from 'smtp-server';

export interface SmtpSink {
  url: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * The development default when no SMTP server is configured: an SMTP server inside the worker that
 * accepts every message on loopback and writes it as an .eml file (open it with any mail client).
 * Nothing leaves the machine. Compose ships a Mailpit-style sink instead (smtp://mailpit:1025).
 */
export async function startSmtpSink(options: { port: number; dir: string; logger: Logger }): Promise<SmtpSink> {
  mkdirSync(options.dir, { recursive: true });
  let counter = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    banner: 'nself notifications development sink (nothing is delivered)',
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        counter += 1;
        const file = path.join(options.dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${counter}.eml`);
        try {
          writeFileSync(file, Buffer.concat(chunks));
          options.logger.info(
            { to: session.envelope.rcptTo.map((r) => r.address), file },
            'email written to the development sink',
          );
          callback();
        } catch (error) {
          callback(error as Error);
        }
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}?ignoreTLS=true`,
    dir: options.dir,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
