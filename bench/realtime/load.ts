/**
 * A load-generator process for bench/realtime (forked with IPC). It holds its share of the WebSocket
 * clients (one file descriptor each; several of these processes stay under the 20,000 fd limit),
 * joins each to its room, sends room messages at the rate it is told, and reports emit→receive
 * latencies measured with the system-wide monotonic clock (process.hrtime is CLOCK_MONOTONIC, so
 * timestamps from different processes on the machine compare).
 *
 * Two protocols: "nself" (the realtime service's contract: auth.token, room:join, message:send →
 * message:new) and "bare" (bench/realtime/bare-server.ts: join / msg).
 */
import { createHmac } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';

export interface ClientSpec {
  user: string;
  room: string;
  /** Index into the target list (the gateway, or replicas directly). */
  target: number;
}

export type Command =
  | {
      type: 'connect';
      mode: 'nself' | 'bare';
      targets: { url: string; path: string }[];
      clients: ClientSpec[];
      connectPerSecond: number;
      jwtSecret: string;
      account: string;
      /** Reconnect as the SDK does (socket.io-client's backoff, 0.5–5 s) and re-join the room afterwards. */
      reconnect?: boolean;
    }
  | { type: 'count' }
  /** Sent right after `instance` was killed (at `killedAt`, monotonic ms): waits until its clients re-joined elsewhere. */
  | { type: 'failover'; instance: string; killedAt: number; timeoutMs: number }
  | { type: 'load'; messagesPerSecond: number; seconds: number; warmupSeconds: number }
  | { type: 'close' };

export type Reply =
  | { type: 'connected'; ok: number; failed: number; retries: number; errors: string[]; instances: Record<string, number>; ms: number }
  | { type: 'count'; connected: number }
  | {
      type: 'failedOver';
      moved: number;
      rejoinedMs: number[];
      stillOut: number;
      reconnectErrors: number;
      errors: string[];
      instances: Record<string, number>;
    }
  | {
      type: 'loaded';
      sent: number;
      sendErrors: number;
      received: number;
      crossReplica: number[];
      sameReplica: number[];
    }
  | { type: 'closed' };

interface Client {
  spec: ClientSpec;
  socket: Socket;
  instance: string;
  /** Monotonic ms at which the client last re-joined its room after a reconnection. */
  rejoinedAt?: number;
}

const nowMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const send = (reply: Reply) => process.send?.(reply);
const clients: Client[] = [];
let mode: 'nself' | 'bare' = 'nself';
let received = 0;
let retries = 0;
let crossReplica: number[] = [];
let sameReplica: number[] = [];

function sign(payload: Record<string, unknown>, secret: string): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}

/** Only messages sent inside the measurement window carry `m`; only those are counted. */
function onDelivery(client: Client, sender: string, sentAt: number, senderInstance: string, measured: unknown): void {
  if (!measured || sender === client.spec.user) return;
  received += 1;
  const latency = nowMs() - sentAt;
  if (senderInstance === client.instance) sameReplica.push(latency);
  else crossReplica.push(latency);
}

/** Like a real client: a failed attempt (e.g. a full accept queue during the connect burst) is retried with backoff. */
async function connectWithRetry(spec: ClientSpec, command: Extract<Command, { type: 'connect' }>): Promise<Client> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await connectOne(spec, command);
    } catch (error) {
      if (attempt >= 4) throw error;
      retries += 1;
      await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** attempt * (0.5 + Math.random())));
    }
  }
}

async function connectOne(spec: ClientSpec, command: Extract<Command, { type: 'connect' }>): Promise<Client> {
  const target = command.targets[spec.target]!;
  const exp = Math.floor(Date.now() / 1000) + 6 * 3600;
  const socket = io(target.url, {
    path: target.path,
    transports: ['websocket'],
    reconnection: command.reconnect ?? false,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5000,
    timeout: 60_000,
    auth:
      command.mode === 'nself'
        ? { token: sign({ sub: spec.user, source_account_id: command.account, exp }, command.jwtSecret) }
        : { user: spec.user },
  });
  const client: Client = { spec, socket, instance: '' };
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('connect timeout')), 120_000);
    const greeting = command.mode === 'nself' ? 'connected' : 'hello';
    const onGreeting = (payload: { instanceId: string }) => {
      client.instance = payload.instanceId;
      clearTimeout(timer);
      // Only the first attempt is decided here: later errors belong to the client's own reconnection.
      socket.off('connect_error', onError);
      resolve();
    };
    const onError = (error: Error) => {
      clearTimeout(timer);
      socket.off(greeting, onGreeting);
      socket.disconnect();
      const cause = (error as Error & { description?: { message?: string } }).description?.message;
      reject(new Error(cause ? `${error.message}: ${cause}` : error.message));
    };
    socket.once(greeting, onGreeting);
    socket.once('connect_error', onError);
  });
  if (command.mode === 'nself') {
    const ack = (await socket.timeout(120_000).emitWithAck('room:join', { roomId: spec.room })) as { ok: boolean; error?: { code: string } };
    if (!ack.ok) throw new Error(`join failed: ${ack.error?.code}`);
    socket.on('message:new', (m: { senderId: string; data: { t: number; i: string; m?: 1 } }) =>
      onDelivery(client, m.senderId, m.data.t, m.data.i, m.data.m),
    );
    // After a reconnection the server greets again; the room is joined again, as the SDK does.
    if (command.reconnect) {
      socket.on('connected', (payload: { instanceId: string }) => void rejoin(client, payload.instanceId));
      socket.io.on('reconnect_error', () => {
        reconnectErrors += 1;
      });
    }
  } else {
    await socket.timeout(120_000).emitWithAck('join', spec.room);
    socket.on('msg', (m: { s: string; t: number; i: string; m?: 1 }) => onDelivery(client, m.s, m.t, m.i, m.m));
  }
  return client;
}

const rejoinErrors: string[] = [];
/** Reconnection attempts that failed (e.g. routed to the dead replica before the gateway noticed, or refused). */
let reconnectErrors = 0;

async function rejoin(client: Client, instanceId: string): Promise<void> {
  client.instance = instanceId;
  try {
    const ack = (await client.socket.timeout(60_000).emitWithAck('room:join', { roomId: client.spec.room })) as { ok: boolean; error?: { code: string } };
    if (!ack.ok) throw new Error(`join failed: ${ack.error?.code}`);
    client.rejoinedAt = nowMs();
  } catch (error) {
    if (rejoinErrors.length < 5) rejoinErrors.push(error instanceof Error ? error.message : String(error));
  }
}

/** Waits until every client of the killed instance has re-joined its room elsewhere (or the timeout). */
async function failover(command: Extract<Command, { type: 'failover' }>): Promise<void> {
  const moved = clients.filter((c) => c.instance === command.instance);
  const done = () => moved.every((c) => c.rejoinedAt !== undefined && c.rejoinedAt > command.killedAt);
  const until = Date.now() + command.timeoutMs;
  while (!done() && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
  const back = moved.filter((c) => c.rejoinedAt !== undefined && c.rejoinedAt > command.killedAt);
  const instances: Record<string, number> = {};
  for (const c of clients) if (c.socket.connected) instances[c.instance] = (instances[c.instance] ?? 0) + 1;
  send({
    type: 'failedOver',
    moved: moved.length,
    rejoinedMs: back.map((c) => c.rejoinedAt! - command.killedAt),
    stillOut: moved.length - back.length,
    reconnectErrors,
    errors: rejoinErrors.splice(0),
    instances,
  });
}

async function connectAll(command: Extract<Command, { type: 'connect' }>): Promise<void> {
  mode = command.mode;
  const started = Date.now();
  const errors: string[] = [];
  let failed = 0;
  const added: Client[] = [];
  const pending: Promise<void>[] = [];
  const gap = 1000 / command.connectPerSecond;
  for (let i = 0; i < command.clients.length; i += 1) {
    const spec = command.clients[i]!;
    pending.push(
      connectWithRetry(spec, command).then(
        (client) => {
          clients.push(client);
          added.push(client);
        },
        (error: unknown) => {
          failed += 1;
          if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
        },
      ),
    );
    const due = started + (i + 1) * gap;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  await Promise.all(pending);
  const instances: Record<string, number> = {};
  for (const c of added) instances[c.instance] = (instances[c.instance] ?? 0) + 1;
  send({ type: 'connected', ok: added.length, failed, retries, errors, instances, ms: Date.now() - started });
  retries = 0;
}

async function load(command: Extract<Command, { type: 'load' }>): Promise<void> {
  const live = clients.filter((c) => c.socket.connected);
  let sent = 0;
  let sendErrors = 0;
  let next = 0;
  const tickMs = 10;
  // Messages are due by elapsed time, not per tick: a timer that fires late (a busy machine) then
  // sends what is due instead of silently offering less than the stated rate.
  let issued = 0;
  const started = Date.now();
  const endAt = started + (command.warmupSeconds + command.seconds) * 1000;
  received = 0;
  crossReplica = [];
  sameReplica = [];
  const measureFrom = started + command.warmupSeconds * 1000;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const now = Date.now();
      if (now >= endAt) {
        clearInterval(timer);
        resolve();
        return;
      }
      const due = Math.floor(((now - started) * command.messagesPerSecond) / 1000);
      while (issued < due && live.length) {
        issued += 1;
        const client = live[next % live.length]!;
        next += 1;
        const t = nowMs();
        const m = now >= measureFrom ? 1 : undefined;
        if (mode === 'nself') {
          client.socket.emit(
            'message:send',
            { roomId: client.spec.room, content: 'x', data: { t, i: client.instance, m } },
            (ack: { ok: boolean }) => {
              if (!ack.ok) sendErrors += 1;
            },
          );
        } else {
          client.socket.emit('msg', { room: client.spec.room, s: client.spec.user, t, i: client.instance, m });
        }
        if (m) sent += 1;
      }
    }, tickMs);
  });
  // Let the last messages of the window arrive.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  send({ type: 'loaded', sent, sendErrors, received, crossReplica, sameReplica });
}

process.on('message', (command: Command) => {
  switch (command.type) {
    case 'connect':
      void connectAll(command);
      break;
    case 'count':
      send({ type: 'count', connected: clients.filter((c) => c.socket.connected).length });
      break;
    case 'load':
      void load(command);
      break;
    case 'failover':
      void failover(command);
      break;
    case 'close':
      for (const c of clients) c.socket.disconnect();
      clients.length = 0;
      send({ type: 'closed' });
      break;
  }
});
