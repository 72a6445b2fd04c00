import { z } from 'zod';
import type { TypingEvent } from '@nself/realtime-client/contracts';
import type { Broadcaster } from '../adapters/broadcaster.js';
import type { DbWriter } from '../adapters/db-writer.js';
import type { RealtimeState, TypingEntry } from '../adapters/state.js';
import { rooms as roomNames } from '../keys.js';

export const typingInput = z.object({
  roomId: z.string().min(1).max(255),
  threadId: z.string().min(1).max(255).optional(),
});

export interface TypingDeps {
  state: RealtimeState;
  broadcaster: Broadcaster;
  db?: DbWriter;
}

/**
 * Typing indicators per room and optional thread. Entries live in Redis with a server-side expiry
 * (REALTIME_TYPING_TIMEOUT_MS, 3 s); the sweeper pops expired ones exactly once across replicas and
 * emits `typing:event` with `isTyping: false, reason: "expired"`, so clients need no timers of their own.
 */
export class TypingService {
  constructor(private readonly deps: TypingDeps) {}

  private emit(entry: TypingEntry, isTyping: boolean, reason: TypingEvent['reason'], expiresAt: number | null, except?: string): void {
    const event: TypingEvent = {
      roomId: entry.roomId,
      threadId: entry.threadId,
      userId: entry.userId,
      isTyping,
      reason,
      expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
    };
    const room = [roomNames.room(entry.account, entry.roomId)];
    if (except) this.deps.broadcaster.emitExcept(room, except, 'typing:event', event);
    else this.deps.broadcaster.emit(room, 'typing:event', event);
  }

  /** Starts (or extends) typing; others in the room hear about a start once, not on every refresh. */
  async start(entry: TypingEntry, socketId: string): Promise<{ expiresAt: string }> {
    const { started, expiresAt } = await this.deps.state.startTyping(entry);
    if (started) {
      this.emit(entry, true, 'started', expiresAt, socketId);
    }
    this.deps.db?.typingChanged({ ...entry, expiresAt: new Date(expiresAt) });
    return { expiresAt: new Date(expiresAt).toISOString() };
  }

  async stop(entry: TypingEntry, reason: 'stopped' | 'disconnected' | 'left', socketId?: string): Promise<boolean> {
    const removed = await this.deps.state.stopTyping(entry);
    if (removed) {
      this.emit(entry, false, reason, null, socketId);
      this.deps.db?.typingChanged({ ...entry, expiresAt: null });
    }
    return removed;
  }

  /** Pops expired entries (each reported to one replica only) and emits their expiry. */
  async sweep(): Promise<number> {
    const expired = await this.deps.state.sweepTyping();
    for (const entry of expired) {
      this.emit(entry, false, 'expired', null);
      this.deps.db?.typingChanged({ ...entry, expiresAt: null });
    }
    return expired.length;
  }
}
