import { createHash, randomUUID } from 'node:crypto';

function format(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

function stamp(bytes: Buffer, ms: number): Buffer {
  bytes.writeUIntBE(Math.max(0, Math.floor(ms)) % 2 ** 48, 0, 6);
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  return bytes;
}

/**
 * A UUIDv7 (time-ordered), the id scheme of every table: 48-bit millisecond timestamp, version 7, then
 * the random bits of a v4 UUID (randomUUID draws from a pooled CSPRNG buffer, cheaper than randomBytes).
 */
export function uuidv7(now = Date.now()): string {
  const random = randomUUID();
  const time = (Math.max(0, Math.floor(now)) % 2 ** 48).toString(16).padStart(12, '0');
  // v4 layout: xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx (variant bits already RFC 4122).
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15, 18)}-${random.slice(19)}`;
}

/**
 * The jobs.id of a job we did not create ourselves (a scheduler's): stable across processes and events,
 * derived from the queue and BullMQ id (unique forever per queue), time-ordered by the job's timestamp.
 */
export function derivedJobId(queue: string, bullmqId: string, timestampMs: number): string {
  const digest = createHash('sha256').update(queue).update('\0').update(bullmqId).digest().subarray(0, 16);
  return format(stamp(Buffer.from(digest), timestampMs));
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (value: string): boolean => UUID.test(value);

/** BullMQ ids of client-deduplicated jobs are namespaced by app: an app can never collide with another. */
export function bullmqIdFor(sourceAccountId: string, clientJobId: string | undefined, ownId: string): string {
  return clientJobId ? `${sourceAccountId}.${clientJobId}` : ownId;
}
