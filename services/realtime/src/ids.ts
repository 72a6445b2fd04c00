import { randomFillSync } from 'node:crypto';

let lastMs = 0;
let counter = 0;
// Random bytes are drawn from a pool refilled 4 KB at a time (one syscall per ~400 ids, not two per id).
const pool = Buffer.alloc(4096);
let poolOffset = pool.length;

function random(bytes: number): Buffer {
  if (poolOffset + bytes > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  poolOffset += bytes;
  return pool.subarray(poolOffset - bytes, poolOffset);
}

/** RFC 9562 UUIDv7: time-ordered (ms timestamp, then a counter within the ms, then random bits). */
export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    counter = (counter + 1) & 0xfff;
    if (counter === 0) lastMs += 1;
    now = lastMs;
  } else {
    lastMs = now;
    counter = random(2).readUInt16BE(0) & 0x7ff;
  }
  const bytes = Buffer.allocUnsafe(16);
  random(10).copy(bytes, 6);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
