import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';

/** The part of clamdjs (a CommonJS package without typings) this adapter uses. */
interface ClamdJs {
  createScanner(host: string, port: number): { scanStream(stream: Readable, timeout?: number): Promise<string> };
  ping(host: string, port: number, timeout?: number): Promise<boolean>;
}
const clamd = createRequire(import.meta.url)('clamdjs') as ClamdJs;

export type ScanResult =
  | { status: 'clean'; durationMs: number }
  | { status: 'infected'; signature: string; durationMs: number }
  | { status: 'error'; error: string; durationMs: number };

export interface VirusScanner {
  readonly engine: string;
  /** Streams the content to the scanner. Never resolves "clean" unless the engine said so explicitly. */
  scan(content: Readable): Promise<ScanResult>;
  /** Readiness: the daemon answers PING. */
  check(): Promise<void>;
}

/**
 * Reads a clamd INSTREAM reply strictly: only "stream: OK" is clean, only "stream: <name> FOUND" is
 * infected; everything else (size limit exceeded, parse errors, anything unexpected) is an error.
 */
export function parseClamdReply(raw: string): { status: 'clean' } | { status: 'infected'; signature: string } | { status: 'error'; error: string } {
  const reply = raw.replace(/\0/g, '').trim();
  if (reply === 'stream: OK') return { status: 'clean' };
  const found = /^stream: (.+) FOUND$/.exec(reply);
  if (found?.[1]) return { status: 'infected', signature: found[1].replace(/\.UNOFFICIAL$/, '') };
  return { status: 'error', error: reply ? `clamd: ${reply}`.slice(0, 500) : 'clamd: empty reply' };
}

/** clamd over TCP with INSTREAM (clamdjs). */
export function createClamdScanner(options: { host: string; port: number; timeoutMs: number }): VirusScanner {
  const scanner = clamd.createScanner(options.host, options.port);
  return {
    engine: 'clamav',
    async scan(content) {
      const started = performance.now();
      const elapsed = () => Math.round(performance.now() - started);
      try {
        const reply = await scanner.scanStream(content, options.timeoutMs);
        return { ...parseClamdReply(reply), durationMs: elapsed() };
      } catch (error) {
        content.destroy();
        // clamd closes the connection early when a stream is over StreamMaxLength ("INSTREAM size
        // limit exceeded"): clamdjs reports that as "Scan aborted. Reply from server: …".
        const message = error instanceof Error ? error.message : String(error);
        return { status: 'error', error: `clamd: ${message.replace(/\0/g, '').trim()}`.slice(0, 500), durationMs: elapsed() };
      }
    },
    async check() {
      const pong = await clamd.ping(options.host, options.port, Math.min(options.timeoutMs, 2000));
      if (!pong) throw new Error('clamd did not answer PING');
    },
  };
}
