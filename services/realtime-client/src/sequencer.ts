import type { RoomLogEntry } from './contracts.js';

export interface SequencerCallbacks {
  deliver(entry: RoomLogEntry): void;
  /** Ask the server for everything after `sinceSeq` (a gap did not fill by itself). */
  fill(sinceSeq: number): void;
  /** Entries after `fromSeq` up to `toSeq` are gone for good (trimmed from the server's history). */
  lost(fromSeq: number, toSeq: number): void;
}

/**
 * Puts one room's log entries (message:new/update/delete) in order, exactly once: entries at or below
 * the last delivered sequence are duplicates and dropped; an entry beyond the next expected one waits
 * until the gap closes (entries published by different replicas can overtake each other), and if the
 * gap stays open for `gapTimeoutMs` the missing range is fetched from the server's history.
 */
export class RoomSequencer {
  private readonly pending = new Map<number, RoomLogEntry>();
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    public lastSeq: number,
    private readonly callbacks: SequencerCallbacks,
    private readonly gapTimeoutMs: number,
  ) {}

  accept(entry: RoomLogEntry): void {
    const seq = entry.payload.seq;
    if (seq <= this.lastSeq || this.pending.has(seq)) return;
    if (seq !== this.lastSeq + 1) {
      this.pending.set(seq, entry);
      this.scheduleFill();
      return;
    }
    this.callbacks.deliver(entry);
    this.lastSeq = seq;
    this.drain();
  }

  /** The server's answer to a fill (or a resume): entries after lastSeq, and whether older ones were trimmed. */
  applyHistory(events: RoomLogEntry[], truncated: boolean): void {
    const first = events[0]?.payload.seq;
    if (truncated && first !== undefined && first > this.lastSeq + 1) {
      this.callbacks.lost(this.lastSeq, first - 1);
      this.lastSeq = first - 1;
    }
    for (const entry of events) this.accept(entry);
    if (truncated && this.pending.size > 0 && !this.pending.has(this.lastSeq + 1)) {
      const next = Math.min(...this.pending.keys());
      this.callbacks.lost(this.lastSeq, next - 1);
      this.lastSeq = next - 1;
      this.drain();
    }
    if (this.pending.size > 0) this.scheduleFill();
  }

  /** Waiting entries (for tests and diagnostics). */
  get waiting(): number {
    return this.pending.size;
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private drain(): void {
    for (;;) {
      const next = this.pending.get(this.lastSeq + 1);
      if (!next) break;
      this.pending.delete(this.lastSeq + 1);
      this.callbacks.deliver(next);
      this.lastSeq += 1;
    }
    // Anything at or below lastSeq that is still waiting was superseded.
    for (const seq of this.pending.keys()) if (seq <= this.lastSeq) this.pending.delete(seq);
    if (this.pending.size === 0) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private scheduleFill(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.pending.size > 0) this.callbacks.fill(this.lastSeq);
    }, this.gapTimeoutMs);
  }
}
