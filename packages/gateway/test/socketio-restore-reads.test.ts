import { beforeEach, describe, expect, it, vi } from 'vitest';
import pino from 'pino';
import { MemoryEngine } from '@switchboard/engine';
import { socketIoSessionKey } from '@switchboard/protocol';
import { RestoreReads } from '../src/socketio/restore-reads.js';
import { SessionStore } from '../src/socketio/session-store.js';

const CHANNEL = 'sb:ch:socket.io:/';
const HISTORY_SIZE = 10;

describe('Socket.IO restore reads, shared by the restores in progress', () => {
  let engine: MemoryEngine;
  let sessions: SessionStore;
  let reads: RestoreReads;
  let epoch: string;

  const publish = async (n: number) => {
    for (let i = 0; i < n; i++) await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: CHANNEL, frame: JSON.stringify({ i }) } });
  };

  beforeEach(async () => {
    engine = new MemoryEngine({ history: { size: HISTORY_SIZE, ttlS: 60 } });
    await engine.connect();
    sessions = new SessionStore(engine, 60, pino({ level: 'silent' }));
    reads = new RestoreReads(engine, CHANNEL, sessions);
    epoch = (await engine.position(CHANNEL)).epoch;
  });

  it('answers each history read exactly as a read of its own would, with one read for those asked together', async () => {
    await publish(15); // the history holds offsets 6..15
    const history = vi.spyOn(engine, 'history');
    const asked = [{ epoch, since: 12 }, { epoch, since: 7 }, { epoch, since: 15 }, { epoch, since: 9 }];
    const answers = await Promise.all(asked.map((read) => reads.history(read)));
    const calls = history.mock.calls.length;
    history.mockRestore();
    const alone = await Promise.all(asked.map((read) => engine.history(CHANNEL, read)));
    expect(answers).toEqual(alone);
    expect(answers.map((a) => (a.recovered ? a.messages.map((m) => m.offset) : null))).toEqual([[13, 14, 15], [8, 9, 10, 11, 12, 13, 14, 15], [], [10, 11, 12, 13, 14, 15]]);
    // The first read went alone; the three asked while it was in flight shared the next one.
    expect(calls).toBe(2);
  });

  it('reads alone what the shared read cannot answer: an offset older than the history, another epoch, a bad offset', async () => {
    await publish(15);
    const asked = [
      { epoch, since: 14 },
      { epoch, since: 2 }, // older than the history
      { epoch, since: 11 },
      { epoch: 'another-epoch', since: 11 },
      { epoch, since: 99 }, // past the channel's offset
      { epoch, since: -1 },
    ];
    const answers = await Promise.all(asked.map((read) => reads.history(read)));
    const alone = await Promise.all(asked.map((read) => engine.history(CHANNEL, read)));
    expect(answers).toEqual(alone);
    expect(answers.map((a) => a.recovered)).toEqual([true, false, true, false, false, false]);
  });

  it('passes a failed read to every restore that waited for it, and reads again for later ones', async () => {
    await publish(3);
    const history = vi.spyOn(engine, 'history').mockRejectedValueOnce(new Error('redis away'));
    const first = reads.history({ epoch, since: 1 });
    await expect(first).rejects.toThrow('redis away');
    await expect(reads.history({ epoch, since: 1 })).resolves.toMatchObject({ recovered: true, offset: 3 });
    expect(history).toHaveBeenCalledTimes(2);
  });

  it('reads the sessions asked together in one round trip, each in its place, unknown and invalid ids included', async () => {
    void sessions.save({ sid: 's1', pid: 'pid-1', rooms: ['s1', 'service:a'], data: { user: 'u' } });
    void sessions.save({ sid: 's3', pid: 'pid-3', rooms: ['s3'], data: {} });
    await engine.commit({ guard: { kind: 'none' }, ops: [{ op: 'set', key: socketIoSessionKey('pid-4'), value: '{not json' }] });
    await sessions.flush();
    const readStrings = vi.spyOn(engine, 'readStrings');
    const answers = await Promise.all(['pid-1', 'pid-2', 'pid-3', 'not a pid!', 'pid-4'].map((pid) => reads.session(pid)));
    expect(answers).toEqual([
      { sid: 's1', pid: 'pid-1', rooms: ['s1', 'service:a'], data: { user: 'u' }, savedAt: expect.any(Number) as number },
      undefined,
      { sid: 's3', pid: 'pid-3', rooms: ['s3'], data: {}, savedAt: expect.any(Number) as number },
      undefined,
      undefined,
    ]);
    expect(readStrings.mock.calls.length).toBeLessThanOrEqual(2);
  });
});
