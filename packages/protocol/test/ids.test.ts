import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { eventIdTime, isUuid, isUuidV7, newEventId } from '../src/ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newEventId', () => {
  it('returns a lowercase UUIDv7 with the RFC 9562 variant', () => {
    const id = newEventId();
    expect(id).toMatch(UUID_V7);
    expect(isUuidV7(id)).toBe(true);
  });

  it('returns distinct ids that sort in creation order', () => {
    const ids = Array.from({ length: 1000 }, () => newEventId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('stays distinct and ordered for many ids within one millisecond, with random tails', () => {
    // 50,000 ids take several milliseconds at most: most share theirs with thousands of others.
    const ids = Array.from({ length: 50_000 }, () => newEventId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => UUID_V7.test(id))).toBe(true);
    const byMs = new Map<number, number>();
    for (const id of ids) byMs.set(eventIdTime(id) as number, (byMs.get(eventIdTime(id) as number) ?? 0) + 1);
    expect(Math.max(...byMs.values())).toBeGreaterThan(1);
    // The last 48 bits are drawn per id, not counted: consecutive ids differ there.
    const tails = new Set(ids.slice(0, 100).map((id) => id.slice(24)));
    expect(tails.size).toBe(100);
  });
});

describe('eventIdTime', () => {
  it('returns the creation time of a new id, in milliseconds', () => {
    const before = Date.now();
    const id = newEventId();
    const after = Date.now();
    const ms = eventIdTime(id);
    expect(ms).toBeDefined();
    // uuid's v7 may step its clock forward by a millisecond to stay monotonic.
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after + 5);
  });

  it('decodes the 48-bit timestamp of a known UUIDv7', () => {
    // RFC 9562 appendix A.6 example: 017F22E2-79B0-7CC3-98C4-DC0C0C07398F, 2022-02-22T19:22:22Z.
    expect(eventIdTime('017f22e2-79b0-7cc3-98c4-dc0c0c07398f')).toBe(0x017f22e279b0);
    expect(new Date(0x017f22e279b0).toISOString()).toBe('2022-02-22T19:22:22.000Z');
    expect(eventIdTime('017F22E2-79B0-7CC3-98C4-DC0C0C07398F')).toBe(0x017f22e279b0);
    expect(eventIdTime('ffffffff-ffff-7fff-bfff-ffffffffffff')).toBe(2 ** 48 - 1);
  });

  it('returns undefined for UUIDv4 ids', () => {
    for (let i = 0; i < 20; i += 1) {
      const v4 = randomUUID();
      expect(isUuid(v4)).toBe(true);
      expect(isUuidV7(v4)).toBe(false);
      expect(eventIdTime(v4)).toBeUndefined();
    }
  });

  it('returns undefined for strings that are not 36 characters', () => {
    expect(eventIdTime('')).toBeUndefined();
    expect(eventIdTime('017f22e279b07cc398c4dc0c0c07398f')).toBeUndefined();
    expect(eventIdTime(newEventId() + '0')).toBeUndefined();
  });
});

describe('eventIdTime on malformed ids', () => {
  it('returns undefined for a v7-shaped string with non-hex characters', () => {
    expect(eventIdTime('0000000g-0000-7000-8000-000000000000')).toBeUndefined();
  });
});
