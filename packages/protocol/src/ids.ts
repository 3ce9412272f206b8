import { randomFillSync } from 'node:crypto';
import { validate as uuidValidate } from 'uuid';

/** Two lowercase hex digits of each byte. */
const BYTE_HEX = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));

/** Random bytes drawn in bulk: each id takes six (one `randomFillSync` per ~680 ids). */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;
/** The counter of ids in one millisecond (26 bits: the 12 of rand_a and the 14 high ones of rand_b). */
const SEQ_LIMIT = 2 ** 26;
let lastMs = -1;
let seq = 0;
/** `tttttttt-tttt-7` for `lastMs`: the part every id of one millisecond shares. */
let prefix = '';

/**
 * Event ids are UUIDv7 (RFC 9562): unique across nodes without coordination, sortable, and
 * carrying the ingest time, so any gateway can measure ingest → delivery latency from the id
 * alone. Layout: 48 bits of milliseconds; a 26-bit counter that starts at a random value each
 * millisecond and counts up within it (RFC 9562 §6.2, method 1: ids of one process sort in
 * creation order; on overflow the time steps a millisecond ahead, as the `uuid` package does);
 * 48 random bits per id. Made here rather than by `uuid`'s v7, which allocates two typed arrays
 * and twenty strings per id: every accepted event gets one on the ingest path.
 */
export function newEventId(): string {
  const now = Date.now();
  if (now > lastMs) {
    // A random start below half the range leaves room for 2^25 ids in the millisecond.
    seq = randomBits(3) & (SEQ_LIMIT / 2 - 1);
    setTime(now);
  } else if (++seq >= SEQ_LIMIT) {
    seq = 0;
    setTime(lastMs + 1);
  }
  if (poolAt > pool.length - 6) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += 6;
  const rand = seq >>> 14;
  const low = 0x8000 | (seq & 0x3fff);
  return (
    prefix +
    BYTE_HEX[rand >>> 8]!.charAt(1) +
    BYTE_HEX[rand & 0xff]! +
    '-' +
    BYTE_HEX[low >>> 8]! +
    BYTE_HEX[low & 0xff]! +
    '-' +
    BYTE_HEX[pool[at]!]! +
    BYTE_HEX[pool[at + 1]!]! +
    BYTE_HEX[pool[at + 2]!]! +
    BYTE_HEX[pool[at + 3]!]! +
    BYTE_HEX[pool[at + 4]!]! +
    BYTE_HEX[pool[at + 5]!]!
  );
}

function setTime(ms: number): void {
  lastMs = ms;
  const hex = ms.toString(16).padStart(12, '0');
  prefix = `${hex.slice(0, 8)}-${hex.slice(8)}-7`;
}

/** `bytes` random bytes from the pool as one unsigned number (at most 4). */
function randomBits(bytes: number): number {
  if (poolAt > pool.length - bytes) {
    randomFillSync(pool);
    poolAt = 0;
  }
  let value = 0;
  for (let i = 0; i < bytes; i++) value = value * 256 + pool[poolAt++]!;
  return value;
}

/**
 * Milliseconds since the epoch encoded in a UUIDv7, or undefined for any other id. Read digit
 * by digit, without slicing: gateways read one per fanned-out frame.
 */
export function eventIdTime(id: string): number | undefined {
  if (!isUuidV7(id)) return undefined;
  let ms = 0;
  for (let i = 0; i < 13; i++) {
    if (i === 8) continue; // the dash
    const code = id.charCodeAt(i);
    // '0'-'9', 'a'-'f', 'A'-'F' (the test above let nothing else through)
    ms = ms * 16 + (code <= 0x39 ? code - 0x30 : (code | 0x20) - 0x57);
  }
  return ms;
}

export const isUuid = (value: string): boolean => uuidValidate(value);
/** A UUID of version 7 (what uuid's validate + version say, in one test: gateways read one per fanned-out frame). */
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;
export const isUuidV7 = (value: string): boolean => UUID_V7.test(value);
