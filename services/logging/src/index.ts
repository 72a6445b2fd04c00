import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

interface RequestContext {
  requestId: string;
}

const requestContext = new AsyncLocalStorage<RequestContext>();

/** Runs fn with requestId attached to every log line written inside it (sync or async). */
export function runWithRequestId<T>(requestId: string, fn: () => T): T {
  return requestContext.run({ requestId }, fn);
}

export function getRequestId(): string | undefined {
  return requestContext.getStore()?.requestId;
}

/** Paths pino replaces with "[redacted]" wherever a logged object carries them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-admin-secret"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-admin-secret"]',
  // Secret-named fields at the top level and one or two objects deep.
  ...['password', 'secret', 'token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token', 'idToken',
    'id_token', 'clientSecret', 'client_secret', 'apiKey', 'authToken', 'code_verifier', 'codeVerifier'].flatMap(
    (key) => [`*.${key}`, `*.*.${key}`],
  ),
  'password',
  'secret',
  'token',
  'authorization',
];

export interface LoggerOptions {
  service: string;
  version?: string;
  level?: string;
  /** Where lines go (tests capture them); stdout by default. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, version: options.version ?? '1.0.0' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
      mixin() {
        const requestId = getRequestId();
        return requestId ? { requestId } : {};
      },
    },
    options.destination,
  );
}

/** A logger whose lines are kept in memory, parsed: for tests that assert on logs. */
export function createMemoryLogger(service = 'test'): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const destination: DestinationStream = {
    write(chunk: string) {
      lines.push(JSON.parse(chunk) as Record<string, unknown>);
    },
  };
  return { logger: createLogger({ service, level: 'debug', destination }), lines };
}
