import { describe, expect, it } from 'vitest';
import { SOCKET_IO_MAX_PARTS, parseSocketIoMessage, socketIoEmitFrame, socketIoEmitsFrame, socketIoLeaveFrame, socketIoTargets } from '../src/socketio-adapter.js';

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

  it('several emits read back as one broadcasts frame, in order; a single one stays a plain broadcast', () => {
    const all = { rooms: [], except: [] };
    const frame = socketIoEmitsFrame('/', [
      { to: all, event: 'error:new', args: [{ id: 'e1' }] },
      { to: { rooms: ['service:a'], except: ['x'] }, event: 'error:service', args: [{ id: 'e1' }, 2] },
    ]);
    expect(parseSocketIoMessage(`${frame.slice(0, -1)},"offset":9}`)).toEqual({
      ok: true,
      value: {
        uid: 'emitter',
        nsp: '/',
        type: 100,
        data: {
          parts: [
            { opts: { rooms: [], except: [], flags: {} }, packet: { type: 2, data: ['error:new', { id: 'e1' }], nsp: '/' } },
            { opts: { rooms: ['service:a'], except: ['x'], flags: {} }, packet: { type: 2, data: ['error:service', { id: 'e1' }, 2], nsp: '/' } },
          ],
        },
      },
    });
    expect(socketIoEmitsFrame('/', [{ to: all, event: 'e', args: [1] }])).toBe(socketIoEmitFrame('/', all, 'e', 1));
    expect(() => socketIoEmitsFrame('/', [])).toThrow(RangeError);
    expect(() => socketIoEmitsFrame('/', Array.from({ length: SOCKET_IO_MAX_PARTS + 1 }, () => ({ to: all, event: 'e', args: [] })))).toThrow(RangeError);
  });

  it('emits of the same arguments carry them once, and read back as the broadcasts frame they stand for', () => {
    const record = { id: 'e1', pad: 'x'.repeat(1000) };
    const emits = [
      { to: { rooms: [], except: [] }, event: 'error:new', args: [record] },
      { to: { rooms: ['service:a'], except: [] }, event: 'error:service', args: [record] },
      { to: { rooms: ['level:error'], except: ['x'] }, event: 'error:level', args: [record] },
    ];
    const frame = socketIoEmitsFrame('/', emits);
    expect(JSON.parse(frame)).toMatchObject({ type: 101, data: { args: [record] } });
    expect(frame.split('x'.repeat(1000)).length).toBe(2);
    const parsed = parseSocketIoMessage(`${frame.slice(0, -1)},"offset":9}`);
    const parts = emits.map(({ to, event }) => ({ opts: { ...to, flags: {} }, packet: { type: 2, data: [event, record], nsp: '/' } }));
    expect(parsed).toEqual(parseSocketIoMessage(JSON.stringify({ uid: 'emitter', nsp: '/', type: 100, data: { parts } })));
    expect(parsed.ok).toBe(true);
    // Socket.IO appends the recovery offset to each packet's arguments: they are not shared.
    const read = parsed.ok && parsed.value.type === 100 ? parsed.value.data.parts : [];
    expect(new Set(read.map((part) => part.packet.data)).size).toBe(3);
    expect((JSON.parse(socketIoEmitsFrame('/', [emits[0]!, { ...emits[1]!, args: [] }])) as { type: number }).type).toBe(100);
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
    ['a broadcasts frame without parts', '{"uid":"u","nsp":"/","type":100,"data":{"parts":[]}}'],
    ['a broadcasts frame with a part that is not a broadcast', '{"uid":"u","nsp":"/","type":100,"data":{"parts":[{"opts":{"rooms":[]}}]}}'],
    [`a broadcasts frame of more than ${SOCKET_IO_MAX_PARTS} parts`, `{"uid":"u","nsp":"/","type":100,"data":{"parts":[${Array(SOCKET_IO_MAX_PARTS + 1).fill('{"opts":{"rooms":[]},"packet":{"type":2,"data":["e"]}}').join(',')}]}}`],
    ['a shared-arguments frame without arguments', '{"uid":"u","nsp":"/","type":101,"data":{"parts":[{"event":"e","opts":{"rooms":[]}}]}}'],
    ['a shared-arguments frame with a part without an event', '{"uid":"u","nsp":"/","type":101,"data":{"args":[],"parts":[{"opts":{"rooms":[]}}]}}'],
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
