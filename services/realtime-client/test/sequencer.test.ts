import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChatMessage, RoomLogEntry } from '../src/contracts.js';
import { RoomSequencer } from '../src/sequencer.js';

function entry(seq: number): RoomLogEntry {
  const payload: ChatMessage = {
    id: `m${seq}`,
    roomId: 'r',
    seq,
    senderId: 'u',
    type: 'text',
    content: `#${seq}`,
    data: null,
    threadId: null,
    clientMessageId: null,
    createdAt: new Date(0).toISOString(),
  };
  return { event: 'message:new', payload };
}

function setup(lastSeq = 0) {
  const delivered: number[] = [];
  const fills: number[] = [];
  const lost: [number, number][] = [];
  const sequencer = new RoomSequencer(
    lastSeq,
    {
      deliver: (e) => delivered.push(e.payload.seq),
      fill: (since) => fills.push(since),
      lost: (a, b) => lost.push([a, b]),
    },
    500,
  );
  return { sequencer, delivered, fills, lost };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('RoomSequencer', () => {
  it('delivers in order and drops duplicates', () => {
    const { sequencer, delivered } = setup();
    for (const seq of [1, 2, 2, 1, 3]) sequencer.accept(entry(seq));
    expect(delivered).toEqual([1, 2, 3]);
    expect(sequencer.lastSeq).toBe(3);
  });

  it('holds entries that overtook earlier ones until the gap closes', () => {
    const { sequencer, delivered, fills } = setup(10);
    sequencer.accept(entry(13));
    sequencer.accept(entry(12));
    expect(delivered).toEqual([]);
    sequencer.accept(entry(11));
    expect(delivered).toEqual([11, 12, 13]);
    expect(sequencer.waiting).toBe(0);
    expect(fills).toEqual([]);
  });

  it('asks for history when a gap stays open, and applies the answer in order', () => {
    vi.useFakeTimers();
    const { sequencer, delivered, fills } = setup(0);
    sequencer.accept(entry(4));
    vi.advanceTimersByTime(499);
    expect(fills).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fills).toEqual([0]);
    sequencer.applyHistory([entry(1), entry(2), entry(3), entry(4), entry(5)], false);
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
  });

  it('reports entries that were trimmed from history and carries on after them', () => {
    const { sequencer, delivered, lost } = setup(2);
    sequencer.accept(entry(9));
    sequencer.applyHistory([entry(7), entry(8), entry(9), entry(10)], true);
    expect(lost).toEqual([[2, 6]]);
    expect(delivered).toEqual([7, 8, 9, 10]);
  });

  it('retries a fill when the answer still leaves a gap', () => {
    vi.useFakeTimers();
    const { sequencer, fills } = setup(0);
    sequencer.accept(entry(3));
    vi.advanceTimersByTime(500);
    sequencer.applyHistory([entry(1)], false);
    vi.advanceTimersByTime(500);
    expect(fills).toEqual([0, 1]);
  });
});
