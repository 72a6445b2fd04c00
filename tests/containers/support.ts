// Helpers of the end-to-end suites: everything goes through the gateway on NSELF_E2E_GATEWAY_URL
// (the one published port of compose.yaml); the mail sink's API (NSELF_E2E_MAILPIT_URL) is only
// read to see that a notification arrived.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import { signTestToken, waitFor } from '@nself/test-support';

export { waitFor };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite with infra/containers/run-e2e.sh`);
  return value;
}

export const gatewayUrl = required('NSELF_E2E_GATEWAY_URL');
export const mailpitUrl = required('NSELF_E2E_MAILPIT_URL');
export const jwtSecret = required('JWT_SECRET');
export const adminSecret = required('ADMIN_SECRET');
export const dashboardUser = process.env.JOBS_DASHBOARD_USER || 'admin';
export const dashboardPassword = required('JOBS_DASHBOARD_PASSWORD');
export const variant = process.env.NSELF_E2E_VARIANT ?? 'single';
export const project = process.env.NSELF_COMPOSE_PROJECT ?? 'nself-e2e';

/** A unique id for this run's users, rooms and accounts, so reruns against a kept stack never collide. */
export const runId = randomUUID().slice(0, 8);

export function token(sub: string, options: { roles?: string[]; sourceAccountId?: string } = {}): string {
  return signTestToken({ sub, roles: options.roles ?? ['user'], sourceAccountId: options.sourceAccountId, secret: jwtSecret });
}

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** One HTTP call through the gateway; JSON in and out where there is JSON. */
export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  options: { token?: string; admin?: boolean; json?: unknown; body?: RequestInit['body']; headers?: Record<string, string>; redirect?: RequestInit['redirect'] } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.admin) headers['x-admin-secret'] = adminSecret;
  let body = options.body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  }
  const response = await fetch(`${gatewayUrl}${path}`, {
    method,
    headers,
    body,
    redirect: options.redirect ?? 'manual',
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  let parsed: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
  return { status: response.status, headers: response.headers, body: parsed as T, text };
}

/**
 * A Socket.IO client through the gateway (path /realtime/socket.io). Default transports: long-polling
 * first, then the WebSocket upgrade — the path that needs the gateway's sticky cookie with several
 * replicas (withCredentials keeps cookies in Node's client).
 */
export function connect(authToken: string, options: { transports?: ('polling' | 'websocket')[] } = {}): Socket {
  return io(gatewayUrl, {
    path: '/realtime/socket.io',
    auth: { token: authToken },
    transports: options.transports ?? ['polling', 'websocket'],
    withCredentials: true,
    reconnection: true,
    reconnectionDelay: 200,
    reconnectionDelayMax: 1000,
    timeout: 10_000,
    forceNew: true,
  });
}

export async function connected(socket: Socket, timeoutMs = 15_000): Promise<Socket> {
  if (socket.connected) return socket;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('socket did not connect')), timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once('connect_error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
  return socket;
}

/** Emits with an ack; resolves with the ack's payload. */
export function emitAck<T = Record<string, unknown>>(socket: Socket, event: string, payload: unknown, timeoutMs = 10_000): Promise<T> {
  return socket.timeout(timeoutMs).emitWithAck(event, payload) as Promise<T>;
}

/** Collects every `event` a socket receives, to wait on later. */
export function collect<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const seen: T[] = [];
  socket.on(event, (payload: T) => seen.push(payload));
  return seen;
}

const execFileAsync = promisify(execFile);

/** Container-engine operations (not product traffic): stop/start one service's container. */
export async function podman(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('podman', args, { timeout: 120_000 });
  return stdout.trim();
}
export const containerOf = (service: string) => `${project}_${service}_1`;

/** A PNG image made here (no fixture files): width×height RGB gradient, uncompressed-ish deflate. */
export async function makePng(width: number, height: number): Promise<Buffer> {
  const { deflateSync } = await import('node:zlib');
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc32 = (buf: Buffer) => {
    let c = 0xffffffff;
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const offset = y * (width * 3 + 1);
    for (let x = 0; x < width; x++) {
      rows[offset + 1 + x * 3] = (x * 255) / width;
      rows[offset + 2 + x * 3] = (y * 255) / height;
      rows[offset + 3 + x * 3] = 128;
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
