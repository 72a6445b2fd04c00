#!/usr/bin/env node
/**
 * nself-realtime CLI. `server` runs the service; every other command works directly against the
 * database and Redis (no running replica needed) through the same use cases the REST API uses, and
 * reaches live sockets on every replica through the Socket.IO Redis emitter (disconnect, kick on
 * delete/remove-member). Needs DATABASE_URL, REDIS_URL/REALTIME_REDIS_URL and REDIS_KEY_PREFIX.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import type { Principal } from '@nself/auth';
import { ConfigError } from '@nself/config';
import { applyMigrations, createPrisma, type PrismaClient } from '@nself/db';
import { AppError } from '@nself/errors';
import { createLogger } from '@nself/logging';
import { emitterBroadcaster } from './adapters/broadcaster.js';
import { closeRedis, createRedis, type Redis } from './adapters/redis.js';
import { RoomsRepository } from './adapters/rooms-repo.js';
import { RealtimeState } from './adapters/state.js';
import { loadConfig, type RealtimeConfig } from './config.js';
import { createKeys } from './keys.js';
import { ConnectionsService } from './use-cases/connections.js';
import { RoomsService } from './use-cases/rooms.js';
import { clusterStatus } from './use-cases/status.js';

interface GlobalOptions {
  account: string;
  json?: boolean;
}

interface Context {
  config: RealtimeConfig;
  prisma: PrismaClient;
  redis: Redis;
  state: RealtimeState;
  rooms: RoomsService;
  connections: ConnectionsService;
  admin: Principal;
}

function table(rows: Record<string, unknown>[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

export interface CliOptions {
  /** Receives everything the CLI prints (stdout by default). */
  write?: (text: string) => void;
  env?: NodeJS.ProcessEnv;
}

/** Builds the CLI program (the bin entry parses process.argv with it; tests run it in-process). */
export function buildCli(options: CliOptions = {}): Command {
  const write = options.write ?? ((text: string) => console.log(text));
  const env = options.env ?? process.env;
  const program = new Command('nself-realtime')
    .description('nself realtime service: Socket.IO rooms, presence and typing')
    .addOption(new Option('--account <id>', 'app (source_account_id) to act on').default('primary').env('REALTIME_CLI_ACCOUNT'))
    .option('--json', 'print JSON instead of text');

  const globals = (): GlobalOptions => program.opts<GlobalOptions>();

  const withContext = async <T>(run: (ctx: Context) => Promise<T>): Promise<T> => {
    const config = loadConfig(env, { requireAuth: false });
    const logger = createLogger({ service: 'realtime-cli', level: 'warn' });
    const prisma = createPrisma(config.databaseUrl, { maxConnections: 2 });
    // No auto-pipelining: the emitter's PUBLISH must go out before QUIT.
    const redis = createRedis(config.redisUrl, logger, 'realtime-cli', { maxRetriesPerRequest: 1, enableAutoPipelining: false });
    const keys = createKeys(config.keyPrefix);
    const state = new RealtimeState(redis, keys, {
      historySize: config.env.REALTIME_HISTORY_SIZE,
      historyTtlMs: config.env.REALTIME_HISTORY_TTL_SECONDS * 1000,
      typingTimeoutMs: config.env.REALTIME_TYPING_TIMEOUT_MS,
    });
    const broadcaster = emitterBroadcaster(redis, keys.adapter);
    const ctx: Context = {
      config,
      prisma,
      redis,
      state,
      rooms: new RoomsService({ repo: new RoomsRepository(prisma), state, broadcaster }),
      connections: new ConnectionsService({ prisma, state, broadcaster }),
      admin: { userId: null, roles: ['admin'], isAdmin: true, sourceAccountId: globals().account, via: 'admin-secret' },
    };
    try {
      return await run(ctx);
    } finally {
      await closeRedis(redis);
      await prisma.$disconnect();
    }
  };

  const print = (value: unknown, text: () => string): void => {
    write(globals().json ? JSON.stringify(value, null, 2) : text());
  };

  program
    .command('init')
    .description('apply the database migrations (all services share one migration history)')
    .action(async () => {
      const config = loadConfig(env, { requireAuth: false });
      const output = await applyMigrations(config.databaseUrl);
      write(output.trim() || 'migrations applied');
    });

  program
    .command('server')
    .description('start the realtime service (same as dist/main.js)')
    .action(async () => {
      await import('./main.js');
    });

  program
    .command('status')
    .description('replicas (from their Redis heartbeats), connections, rooms and presence of the app')
    .action(() =>
      withContext(async (ctx) => {
        const status = await clusterStatus(ctx.state, ctx.prisma, globals().account);
        print(status, () =>
          [
            `account:      ${globals().account}`,
            `replicas:     ${status.instances.length}`,
            table(status.instances, ['instanceId', 'sockets', 'lastHeartbeatMsAgo']),
            `connections:  ${status.connections} (all apps)`,
            `rooms:        ${status.rooms.active} active / ${status.rooms.total} total`,
            `presence:     ${status.presence.online} online, ${status.presence.away} away, ${status.presence.busy} busy, ${status.presence.offline} offline`,
          ].join('\n'),
        );
      }),
    );

  const rooms = program.command('rooms').description('manage rooms');

  rooms
    .command('list')
    .description('list rooms of the app')
    .addOption(new Option('--visibility <visibility>').choices(['public', 'private']))
    .option('--limit <n>', 'at most this many', '100')
    .action((options: { visibility?: string; limit: string }) =>
      withContext(async (ctx) => {
        const result = await ctx.rooms.list(ctx.admin, { visibility: options.visibility, limit: options.limit });
        print(result, () => table(result.rooms as unknown as Record<string, unknown>[], ['id', 'name', 'type', 'visibility', 'ownerId', 'maxMembers', 'lastMessageSeq']));
      }),
    );

  rooms
    .command('create <name>')
    .description('create a room')
    .addOption(new Option('--type <type>').choices(['channel', 'group', 'direct', 'broadcast']).default('channel'))
    .option('--private', 'private room (members only)')
    .option('--owner <userId>', 'owner user id')
    .option('--max-members <n>', 'member limit')
    .option('--description <text>')
    .option('--members <ids>', 'comma-separated user ids to add')
    .action((name: string, options: { type: string; private?: boolean; owner?: string; maxMembers?: string; description?: string; members?: string }) =>
      withContext(async (ctx) => {
        const result = await ctx.rooms.create(ctx.admin, {
          name,
          type: options.type,
          visibility: options.private ? 'private' : 'public',
          ownerId: options.owner,
          maxMembers: options.maxMembers ? Number(options.maxMembers) : undefined,
          description: options.description,
          members: options.members ? options.members.split(',').map((m) => m.trim()).filter(Boolean) : [],
        });
        print(result, () => `created room ${result.room.name} (${result.room.id}) with ${result.members.length} member(s)`);
      }),
    );

  rooms
    .command('info <room>')
    .description('a room (id or name) with its members and online count')
    .action((room: string) =>
      withContext(async (ctx) => {
        const info = await ctx.rooms.get(ctx.admin, room);
        const members = await ctx.rooms.members(ctx.admin, room, { limit: 1000, includeBanned: 'true' });
        print({ ...info, members }, () =>
          [
            `${info.room.name} (${info.room.id})`,
            `type ${info.room.type}, ${info.room.visibility}, owner ${info.room.ownerId ?? '-'}, max members ${info.room.maxMembers ?? '-'}`,
            `last sequence ${info.lastSeq}, online now ${info.onlineCount}, members ${members.total}`,
            table(members.members as unknown as Record<string, unknown>[], ['userId', 'role', 'banned', 'mutedUntil', 'joinedAt']),
          ].join('\n'),
        );
      }),
    );

  rooms
    .command('delete <room>')
    .description('delete a room; its sockets on every replica leave it')
    .action((room: string) =>
      withContext(async (ctx) => {
        await ctx.rooms.delete(ctx.admin, room);
        print({ deleted: room }, () => `deleted room ${room}`);
      }),
    );

  rooms
    .command('add-member <room> <userId>')
    .description('add a member to a room')
    .addOption(new Option('--role <role>').choices(['member', 'admin']).default('member'))
    .action((room: string, userId: string, options: { role: string }) =>
      withContext(async (ctx) => {
        const result = await ctx.rooms.addMember(ctx.admin, room, { userId, role: options.role });
        print(result.member, () => (result.created ? `added ${userId} to ${room} as ${result.member.role}` : `${userId} is already a member of ${room}`));
      }),
    );

  rooms
    .command('remove-member <room> <userId>')
    .description('remove a member; their sockets on every replica leave the room')
    .action((room: string, userId: string) =>
      withContext(async (ctx) => {
        await ctx.rooms.removeMember(ctx.admin, room, userId);
        print({ removed: userId, room }, () => `removed ${userId} from ${room}`);
      }),
    );

  program
    .command('connections')
    .description('live connections of the app (the active_connections view)')
    .option('--user <userId>', 'only this user')
    .option('--limit <n>', 'at most this many', '100')
    .action((options: { user?: string; limit: string }) =>
      withContext(async (ctx) => {
        const result = await ctx.connections.list(ctx.admin, { userId: options.user, limit: options.limit });
        print(result, () =>
          `${result.total} connection(s)\n` +
          table(result.connections as unknown as Record<string, unknown>[], ['socketId', 'userId', 'instanceId', 'transport', 'ipAddress', 'latencyMs', 'connectedAt']),
        );
      }),
    );

  program
    .command('events')
    .description('recent entries of the event log (realtime_events)')
    .option('--type <eventType>', 'only this event type')
    .option('--user <userId>', 'only this user')
    .option('--limit <n>', 'at most this many', '50')
    .action((options: { type?: string; user?: string; limit: string }) =>
      withContext(async (ctx) => {
        const result = await ctx.connections.events(ctx.admin, { type: options.type, userId: options.user, limit: options.limit });
        print(result, () => table(result.events as unknown as Record<string, unknown>[], ['createdAt', 'eventType', 'userId', 'roomId', 'socketId', 'instanceId']));
      }),
    );

  program
    .command('disconnect <socketId>')
    .description('disconnect a socket on whichever replica holds it')
    .action((socketId: string) =>
      withContext(async (ctx) => {
        await ctx.connections.disconnect(ctx.admin, socketId);
        print({ disconnected: socketId }, () => `disconnect sent to ${socketId}`);
      }),
    );

  return program;
}

/** Human-readable message of a CLI failure. */
export function describeCliError(error: unknown): string {
  if (error instanceof ConfigError) return error.message;
  if (error instanceof AppError) {
    return `error: ${error.code}: ${error.message}${error.extra.errors ? `\n${JSON.stringify(error.extra.errors)}` : ''}`;
  }
  return `error: ${error instanceof Error ? error.message : String(error)}`;
}

function isEntryPoint(): boolean {
  try {
    return Boolean(process.argv[1]) && realpathSync(process.argv[1]!) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  buildCli()
    .parseAsync(process.argv)
    .catch((error: unknown) => {
      console.error(describeCliError(error));
      process.exitCode = 1;
    });
}
