import { beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import type { Namespace } from 'socket.io';
import { MemoryEngine } from '@switchboard/engine';
import { FRESH_SESSION_MS, SessionKeeper } from '../src/socketio/session-keeper.js';
import { SessionStore, type StoredSession } from '../src/socketio/session-store.js';

/**
 * The session bookkeeping of restored sockets: a socket restored from a session stored a moment
 * ago, in the rooms it was stored with, does not store it again; any other does.
 */
interface FakeSocket {
  id: string;
  pid: string;
  connected: boolean;
  rooms: Set<string>;
  data: unknown;
}

const TTL_S = 60;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SessionKeeper, restored and drained sockets', () => {
  let engine: MemoryEngine;
  let store: SessionStore;
  let sockets: Map<string, FakeSocket>;
  let keeper: SessionKeeper;

  /** A socket back from `session` (as Socket.IO creates it: in its rooms, then one change per join). */
  const restore = (session: StoredSession, rooms = session.rooms) => {
    keeper.restored(session);
    sockets.set(session.sid, { id: session.sid, pid: session.pid, connected: true, rooms: new Set(rooms), data: session.data });
    keeper.changed(session.sid);
  };

  beforeEach(async () => {
    engine = new MemoryEngine({ history: { size: 10, ttlS: TTL_S } });
    await engine.connect();
    store = new SessionStore(engine, TTL_S, pino({ level: 'silent' }));
    sockets = new Map();
    keeper = new SessionKeeper({ sockets } as unknown as Namespace, store);
  });

  it('stores a session with the time it was stored, and reads it back with it', async () => {
    const before = Date.now();
    void store.save({ sid: 's1', pid: 'p1', rooms: ['s1', 'service:a'], data: { roles: [] } });
    await store.flush();
    const read = await store.read('p1');
    expect(read).toMatchObject({ sid: 's1', pid: 'p1', rooms: ['s1', 'service:a'], data: { roles: [] } });
    expect(read?.savedAt).toBeGreaterThanOrEqual(before);
    expect(read?.savedAt).toBeLessThanOrEqual(Date.now());
  });

  it('resolves written(id) only once the rooms as changed are written: what a subscribe acknowledgement waits for', async () => {
    sockets.set('s1', { id: 's1', pid: 'p1', connected: true, rooms: new Set(['s1']), data: {} });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const commit = engine.commit.bind(engine);
    vi.spyOn(engine, 'commit').mockImplementation(async (request) => {
      await gate;
      return commit(request);
    });
    sockets.get('s1')!.rooms.add('job:1');
    keeper.changed('s1');
    let stored = false;
    const storing = keeper.written('s1').then(() => (stored = true));
    await turn();
    await turn();
    expect(stored).toBe(false);
    release();
    await storing;
    expect((await store.read('p1'))?.rooms).toEqual(['s1', 'job:1']);
    // Nothing pending: at once.
    await keeper.written('s1');
  });

  it('does not store again a fresh session restored in its stored rooms', async () => {
    void store.save({ sid: 's1', pid: 'p1', rooms: ['s1', 'service:a'], data: { roles: [] } });
    await store.flush();
    const save = vi.spyOn(store, 'save');
    restore((await store.read('p1'))!);
    await turn();
    expect(save).not.toHaveBeenCalled();
    // Its next change is stored as usual.
    sockets.get('s1')!.rooms.add('job:1');
    keeper.changed('s1');
    await turn();
    expect(save).toHaveBeenCalledTimes(1);
    expect(save.mock.calls[0]![0].rooms).toEqual(['s1', 'service:a', 'job:1']);
  });

  it('stores a restored session whose rooms changed, that is not fresh, or that has no time', async () => {
    const now = Date.now();
    const save = vi.spyOn(store, 'save');
    const session = (sid: string, savedAt?: number): StoredSession => ({ sid, pid: `p${sid}`, rooms: [sid, 'service:a'], data: {}, ...(savedAt === undefined ? {} : { savedAt }) });
    restore(session('a', now), ['a', 'service:a', 'job:7']); // a missed socketsJoin, replayed
    restore(session('b', now), ['b']); // a missed socketsLeave, replayed
    restore(session('c', now - FRESH_SESSION_MS - 1_000)); // stored too long ago
    restore(session('d')); // stored by an older version
    restore(session('e', now)); // fresh and unchanged: the only one not stored again
    await turn();
    expect(save.mock.calls.map(([s]) => s.sid).sort()).toEqual(['a', 'b', 'c', 'd']);
  });

  it('forgets a restored socket that leaves before its first store', async () => {
    restore({ sid: 's1', pid: 'p1', rooms: ['s1'], data: {}, savedAt: Date.now() });
    const socket = sockets.get('s1');
    sockets.delete('s1');
    keeper.left('s1', socket as never);
    // A later socket under the same id (never in practice) is stored as any other.
    const save = vi.spyOn(store, 'save');
    sockets.set('s1', { id: 's1', pid: 'p1', connected: true, rooms: new Set(['s1']), data: {} });
    keeper.changed('s1');
    await turn();
    expect(save).toHaveBeenCalledTimes(1);
  });

  it('does not store again, as they drop, the sessions a drain just stored; stores those that changed since', async () => {
    for (const id of ['a', 'b']) sockets.set(id, { id, pid: `p${id}`, connected: true, rooms: new Set([id]), data: {} });
    await keeper.storeAll(10_000);
    const save = vi.spyOn(store, 'save');
    sockets.get('b')!.rooms.add('job:1');
    keeper.changed('b'); // not stored yet when its connection drops
    keeper.persist({ sid: 'a', pid: 'pa', rooms: ['a'], data: {} });
    keeper.persist({ sid: 'b', pid: 'pb', rooms: ['b', 'job:1'], data: {} });
    expect(save.mock.calls.map(([s]) => s.sid)).toEqual(['b']);
    // Long after the drain stored them, a drop stores its session again (its TTL starts anew).
    keeper.persist({ sid: 'a', pid: 'pa', rooms: ['a'], data: {} }, Date.now() + FRESH_SESSION_MS + 1_000);
    expect(save.mock.calls.map(([s]) => s.sid)).toEqual(['b', 'a']);
  });

  it('stores every dropped session when the drain could not store them all', async () => {
    sockets.set('a', { id: 'a', pid: 'pa', connected: true, rooms: new Set(['a']), data: {} });
    vi.spyOn(engine, 'commit').mockRejectedValueOnce(new Error('Redis is down'));
    await keeper.storeAll(10_000);
    const save = vi.spyOn(store, 'save');
    keeper.persist({ sid: 'a', pid: 'pa', rooms: ['a'], data: {} });
    expect(save).toHaveBeenCalledTimes(1);
  });
});
