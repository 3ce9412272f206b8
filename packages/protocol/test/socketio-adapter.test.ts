import { describe, expect, it } from 'vitest';
import { parseSocketIoMessage, socketIoEmitFrame, socketIoLeaveFrame, socketIoTargets } from '../src/socketio-adapter.js';

describe('Socket.IO adapter frames', () => {
  it('an emit reads back as a broadcast of an EVENT packet, with the engine offset field ignored', () => {
    const frame = socketIoEmitFrame('/', { rooms: ['job:1'], except: ['user:x'] }, 'event', { a: 1 });
    const parsed = parseSocketIoMessage(`${frame.slice(0, -1)},"offset":7}`);
    expect(parsed).toEqual({
      ok: true,
      value: {
        uid: 'emitter',
        nsp: '/',
        type: 3,
        data: { opts: { rooms: ['job:1'], except: ['user:x'], flags: {} }, packet: { type: 2, data: ['event', { a: 1 }], nsp: '/' } },
      },
    });
  });

  it('a leave reads back as sockets-leave', () => {
    expect(parseSocketIoMessage(socketIoLeaveFrame('/', { rooms: ['job:1'], except: [] }, ['job:1']))).toMatchObject({
      ok: true,
      value: { type: 5, data: { opts: { rooms: ['job:1'], except: [] }, rooms: ['job:1'] } },
    });
  });

  it.each([
    ['not JSON', '{oops'],
    ['not an object', '[1,2]'],
    ['no sender', '{"nsp":"/","type":3,"data":{"opts":{"rooms":[]},"packet":{"type":2,"data":[]}}}'],
    ['an unknown type', '{"uid":"u","nsp":"/","type":99}'],
    ['a heartbeat (this cluster has none)', '{"uid":"u","nsp":"/","type":2}'],
    ['rooms that are not strings', '{"uid":"u","nsp":"/","type":3,"data":{"opts":{"rooms":[1]},"packet":{"type":2,"data":[]}}}'],
    ['a packet without a type', '{"uid":"u","nsp":"/","type":3,"data":{"opts":{"rooms":[]},"packet":{"data":[]}}}'],
    ['a leave without rooms', '{"uid":"u","nsp":"/","type":5,"data":{"opts":{"rooms":[]}}}'],
    ['a disconnect with a non-boolean close', '{"uid":"u","nsp":"/","type":6,"data":{"opts":{"rooms":[]},"close":"yes"}}'],
  ])('refuses %s without throwing', (_what, frame) => {
    expect(parseSocketIoMessage(frame).ok).toBe(false);
  });

  it('targets sockets as socket.io-adapter does: any listed room (all when none), none excepted', () => {
    expect(socketIoTargets({ rooms: [], except: [] }, ['sid'])).toBe(true);
    expect(socketIoTargets({ rooms: ['a', 'b'], except: [] }, ['sid', 'b'])).toBe(true);
    expect(socketIoTargets({ rooms: ['a'], except: [] }, ['sid', 'b'])).toBe(false);
    expect(socketIoTargets({ rooms: ['a'], except: ['user:x'] }, ['a', 'user:x'])).toBe(false);
    expect(socketIoTargets({ rooms: [], except: ['user:x'] }, ['user:x'])).toBe(false);
  });
});
