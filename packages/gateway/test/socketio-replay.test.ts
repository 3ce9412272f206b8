import { describe, expect, it, vi } from 'vitest';
import type { ChannelMessage } from '@switchboard/engine';
import { SOCKET_IO_EVENT_PACKET, SOCKET_IO_MESSAGE, parseSocketIoMessage } from '@switchboard/protocol';
import { ReplayCache, replaySession } from '../src/socketio/replay.js';
import type { StoredSession } from '../src/socketio/session-store.js';

/**
 * The pure replay unit of a Socket.IO session restore: the frames a session missed, played
 * against its rooms, become its missed packets (each with its recovery offset) — no engine,
 * no sockets.
 */
const EPOCH = 'e1';
const NSP = '/';
const session: StoredSession = { sid: 's1', pid: 'p1', rooms: ['s1', 'service:a'], data: { user: 'u' } };

const to = (rooms: string[] = [], except: string[] = [], flags: Record<string, unknown> = {}) => ({ rooms, except, flags });
const event = (name: string, arg: unknown) => ({ type: SOCKET_IO_EVENT_PACKET, data: [name, arg] });

let offset = 0;
const frame = (message: object): ChannelMessage => ({ epoch: EPOCH, offset: ++offset, frame: JSON.stringify({ uid: 'gw', nsp: NSP, ...message }) });
const broadcast = (packet: object, opts = to(), requestId?: string) =>
  frame({ type: SOCKET_IO_MESSAGE.broadcast, data: { packet, opts, ...(requestId === undefined ? {} : { requestId }) } });
const parts = (...items: { packet: object; opts: ReturnType<typeof to> }[]) => frame({ type: SOCKET_IO_MESSAGE.broadcasts, data: { parts: items } });
const rooms = (type: number, names: string[], opts = to()) => frame({ type, data: { opts, rooms: names } });

const parse = (m: ChannelMessage) => {
  const parsed = parseSocketIoMessage(m.frame);
  return parsed.ok ? parsed.value : undefined;
};

describe('replaySession', () => {
  it('turns the broadcasts aimed at the session into its missed packets, with their recovery offsets', () => {
    offset = 10;
    const frames = [
      broadcast(event('error:new', 1)), // everyone
      broadcast(event('error:service', 2), to(['service:a'])), // its room
      broadcast(event('error:service', 3), to(['service:b'])), // another room
      broadcast(event('error:new', 4), to([], ['service:a'])), // except its room
      broadcast(event('volatile', 5), to([], [], { volatile: true })), // volatile: not recoverable
      broadcast({ ...event('acked', 6), id: 3 }), // awaits an ack
      broadcast(event('request', 7), to(), 'req-1'), // a request between servers
      frame({ type: SOCKET_IO_MESSAGE.broadcast, uid: 'gw', nsp: '/other', data: { packet: event('other nsp', 8), opts: to() } }),
    ];
    const restored = replaySession(session, { epoch: EPOCH, offset: 10 }, frames, NSP, parse);
    expect(restored).toEqual({
      ...session,
      missedPackets: [
        ['error:new', 1, 'e1:11'],
        ['error:service', 2, 'e1:12'],
      ],
    });
  });

  it('replays room changes in order: a packet after leaving a room is not missed, one after joining is', () => {
    offset = 0;
    const frames = [
      rooms(SOCKET_IO_MESSAGE.socketsLeave, ['service:a'], to(['s1'])),
      broadcast(event('error:service', 'a'), to(['service:a'])),
      rooms(SOCKET_IO_MESSAGE.socketsJoin, ['service:b'], to(['s1'])),
      broadcast(event('error:service', 'b'), to(['service:b'])),
      rooms(SOCKET_IO_MESSAGE.socketsJoin, ['service:c'], to(['someone-else'])),
    ];
    const restored = replaySession(session, { epoch: EPOCH, offset: 0 }, frames, NSP, parse);
    expect(restored).not.toBe('disconnected');
    if (restored === 'disconnected') return;
    expect(restored.rooms).toEqual(['s1', 'service:b']);
    expect(restored.missedPackets).toEqual([['error:service', 'b', 'e1:4']]);
  });

  it('ends the session when a disconnect aimed at it was missed', () => {
    offset = 0;
    const frames = [broadcast(event('error:new', 1)), frame({ type: SOCKET_IO_MESSAGE.disconnectSockets, data: { opts: to(['service:a']), close: true } })];
    expect(replaySession(session, { epoch: EPOCH, offset: 0 }, frames, NSP, parse)).toBe('disconnected');
  });

  it('skips the parts of a multi-broadcast frame the client processed before it dropped', () => {
    offset = 4;
    const all = { packet: event('error:new', 'x'), opts: to() };
    const room = { packet: event('error:service', 'x'), opts: to(['service:a']) };
    const level = { packet: event('error:level', 'x'), opts: to(['level:fatal']) };
    const multi = parts(all, room, level); // offset 5
    // Processed part 0 of frame 5: parts 1 and 2 are missed (2 is for a room it is not in).
    const fromPart = replaySession(session, { epoch: EPOCH, offset: 5, part: 0 }, [multi], NSP, parse);
    expect(fromPart !== 'disconnected' && fromPart.missedPackets).toEqual([['error:service', 'x', 'e1:5.1']]);
    // From before the frame: every part aimed at it, the last one with the frame's own offset.
    const whole = replaySession({ ...session, rooms: ['s1', 'level:fatal'] }, { epoch: EPOCH, offset: 4 }, [multi], NSP, parse);
    expect(whole !== 'disconnected' && whole.missedPackets).toEqual([
      ['error:new', 'x', 'e1:5.0'],
      ['error:level', 'x', 'e1:5'],
    ]);
  });

  it('leaves the stored session as it was', () => {
    offset = 0;
    const stored = structuredClone(session);
    replaySession(stored, { epoch: EPOCH, offset: 0 }, [rooms(SOCKET_IO_MESSAGE.socketsJoin, ['x'], to(['s1']))], NSP, parse);
    expect(stored).toEqual(session);
  });
});

describe('ReplayCache', () => {
  it('parses a history frame once for every replay, and forgets the oldest past its capacity', () => {
    offset = 0;
    const cache = new ReplayCache(2);
    const [a, b, c] = [broadcast(event('x', 1)), broadcast(event('x', 2)), frame({ not: 'a message' })];
    const spy = vi.spyOn(JSON, 'parse');
    expect(cache.get(a)?.type).toBe(SOCKET_IO_MESSAGE.broadcast);
    expect(cache.get(a)?.type).toBe(SOCKET_IO_MESSAGE.broadcast);
    expect(spy).toHaveBeenCalledTimes(1);
    cache.get(b);
    expect(cache.get(c)).toBeUndefined(); // unreadable: remembered as such
    expect(spy).toHaveBeenCalledTimes(3);
    cache.get(a); // `a` was the oldest: parsed again
    expect(spy).toHaveBeenCalledTimes(4);
    spy.mockRestore();
  });
});
