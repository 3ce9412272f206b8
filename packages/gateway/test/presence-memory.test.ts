import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Engine } from '@switchboard/engine';
import { connectionClientId } from '../src/presence/gateway-presence.js';
import { PresenceTracker } from '../src/presence/tracker.js';

// What presence keeps per idle connection (docs/presence.md: at most 10 % more memory per
// connection). The JS heap is exact where RSS is not: live bytes after full collections.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const COUNT = 50_000;

/**
 * Heap bytes per item that `make` keeps alive (once `settle` resolved): the least of three tries,
 * as whatever else the process allocates meanwhile (the test runner) only adds to a try.
 */
async function bytesPerItem(make: (i: number) => unknown, settle = () => Promise.resolve()): Promise<number> {
  const tries: number[] = [];
  for (let attempt = 0; attempt < 3; attempt++) tries.push(await oneTry(make, settle));
  return Math.min(...tries);
}

async function oneTry(make: (i: number) => unknown, settle: () => Promise<unknown>): Promise<number> {
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const kept = Array.from({ length: COUNT }, (_, i) => make(i));
  await settle();
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  expect(kept).toHaveLength(COUNT);
  return (after - before) / COUNT;
}

describe('presence memory per idle connection', () => {
  it('a fresh clientId is one flat string (a UUID built from pieces keeps them for the connection’s life)', async () => {
    // 36 characters: about 56 bytes flat; a concatenation tree of its pieces costs 4 to 5 times that.
    const perId = (await bytesPerItem(() => connectionClientId(''))) - 8; // minus the array slot holding it
    expect(connectionClientId('')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(perId).toBeLessThan(80);
  });

  it('a tracked membership is one small object (no key string, entry or member object kept)', async () => {
    const engine = { presence: { refresh: () => Promise.resolve(), leave: () => Promise.resolve() } } as unknown as Engine;
    const trackers: PresenceTracker[] = [];
    const ids = Array.from({ length: COUNT }, (_, i) => `client-${String(i).padStart(30, '0')}`);
    const info = { endpoint: 'analytics' };
    // A tracker per try; each membership counted once written (the batch of joins pending meanwhile is gone).
    const joined = (i: number) => {
      if (i === 0) trackers.push(new PresenceTracker(engine, { ttlS: 30, graceS: 15, owner: 'gw', logger: pino({ level: 'silent' }), batchMs: 1 }));
      trackers.at(-1)!.join('sb:ch:analytics', { clientId: ids[i]!, userId: null, info });
    };
    const perMembership = (await bytesPerItem(joined, () => trackers.at(-1)!.flush())) - 8;
    expect(trackers.map((t) => t.size)).toEqual([COUNT, COUNT, COUNT]);
    // One 80-byte object and its map entry (about 37 bytes); the key strings and entry objects
    // kept before came to about 215 bytes.
    expect(perMembership).toBeLessThan(150);
    for (const tracker of trackers) tracker.stop();
  });
});
