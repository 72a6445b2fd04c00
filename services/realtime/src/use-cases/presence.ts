import { z } from 'zod';
import type { Principal } from '@nself/auth';
import { Errors, parseInput } from '@nself/errors';
import { SETTABLE_PRESENCE_STATUSES, type Presence } from '@nself/realtime-client/contracts';
import type { Broadcaster } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import type { PresenceTransition, RealtimeState, StoredPresence } from '../adapters/state.js';
import { rooms as roomNames } from '../keys.js';
import type { RoomsService } from './rooms.js';

export const presenceUpdateInput = z
  .object({
    status: z.enum(SETTABLE_PRESENCE_STATUSES).optional(),
    statusText: z.string().max(200).nullable().optional(),
    statusEmoji: z.string().max(32).nullable().optional(),
  })
  .refine((v) => v.status !== undefined || v.statusText !== undefined || v.statusEmoji !== undefined, {
    message: 'Give status, statusText or statusEmoji',
  });

export const userIdsInput = z.object({
  userIds: z.array(z.string().min(1).max(255)).min(1).max(500),
});

export function toPresence(p: StoredPresence): Presence {
  return {
    userId: p.userId,
    status: p.status,
    statusText: p.statusText,
    statusEmoji: p.statusEmoji,
    connections: p.connections,
    lastActiveAt: p.lastActiveAt ? new Date(p.lastActiveAt).toISOString() : null,
    updatedAt: p.updatedAt ? new Date(p.updatedAt).toISOString() : null,
  };
}

export interface PresenceDeps {
  state: RealtimeState;
  rooms: RoomsService;
  broadcaster: Broadcaster;
  db?: DbWriter;
}

/**
 * Presence lives in Redis (one hash per user plus the set of their live sockets on every replica).
 * A change goes to the sockets of users who share a room with the user, and to explicit subscribers
 * (presence:subscribe) — never to everyone.
 */
export class PresenceService {
  constructor(private readonly deps: PresenceDeps) {}

  async get(account: string, userIds: string[]): Promise<Presence[]> {
    return (await this.deps.state.presence(account, userIds)).map(toPresence);
  }

  /** Emits the user's current presence to everyone concerned and mirrors it to the database. */
  async publish(account: string, userId: string, text?: { statusText?: string | null; statusEmoji?: string | null }): Promise<Presence> {
    const [stored] = await this.deps.state.presence(account, [userId]);
    const presence = toPresence(stored!);
    const roomIds = await this.deps.rooms.roomIdsOf(account, userId);
    const targets = [roomNames.presence(account, userId), ...roomIds.map((id) => roomNames.room(account, id))];
    this.deps.broadcaster.emit(targets, 'presence:changed', presence);
    this.deps.db?.presenceChanged({
      account,
      userId,
      status: presence.status,
      connections: presence.connections,
      lastActiveAt: new Date(stored!.lastActiveAt ?? Date.now()),
      ...text,
    });
    return presence;
  }

  /** Publishes when a connect/disconnect/reap changed the visible status. */
  async transitioned(transition: PresenceTransition | null): Promise<void> {
    if (!transition) return;
    if (transition.previous !== transition.status) {
      await this.publish(transition.account, transition.userId);
    } else {
      this.deps.db?.presenceChanged({
        account: transition.account,
        userId: transition.userId,
        status: transition.status,
        connections: transition.connections,
        lastActiveAt: new Date(),
      });
    }
  }

  async update(principal: Principal, input: unknown): Promise<Presence> {
    if (!principal.userId) throw Errors.forbidden('Anonymous connections have no presence', 'ANONYMOUS_READ_ONLY');
    const data = parseInput(presenceUpdateInput, input);
    await this.deps.state.setPresence(principal.sourceAccountId, principal.userId, data);
    return this.publish(principal.sourceAccountId, principal.userId, {
      statusText: data.statusText,
      statusEmoji: data.statusEmoji,
    });
  }
}
