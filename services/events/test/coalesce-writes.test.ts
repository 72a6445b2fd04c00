import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { coalesceWrites } from '../src/amqp-connection.js';

/** A writable that records each call to the underlying write(v): what one syscall would carry. */
function recordingStream() {
  const calls: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      calls.push([chunk.toString()]);
      callback();
    },
    writev(chunks, callback) {
      calls.push(chunks.map(({ chunk }) => (chunk as Buffer).toString()));
      callback();
    },
  });
  return { stream, calls };
}

describe('coalesceWrites', () => {
  it('sends the frames written in one tick as one write, and later frames in the next', async () => {
    const { stream, calls } = recordingStream();
    coalesceWrites(stream);
    stream.write(Buffer.from('publish'));
    stream.write(Buffer.from('ack'));
    stream.write(Buffer.from('publish2'));
    expect(calls).toEqual([]);
    await new Promise((resolve) => process.nextTick(resolve));
    expect(calls).toEqual([['publish', 'ack', 'publish2']]);
    stream.write(Buffer.from('heartbeat'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([['publish', 'ack', 'publish2'], ['heartbeat']]);
  });

  it('keeps write() semantics: callbacks run and backpressure is reported', async () => {
    const { stream } = recordingStream();
    coalesceWrites(stream);
    const done: string[] = [];
    const big = Buffer.alloc(stream.writableHighWaterMark + 1);
    expect(stream.write(Buffer.from('a'), () => done.push('a'))).toBe(true);
    expect(stream.write(big, () => done.push('big'))).toBe(false);
    await new Promise((resolve) => stream.once('drain', resolve));
    expect(done).toEqual(['a', 'big']);
  });
});
