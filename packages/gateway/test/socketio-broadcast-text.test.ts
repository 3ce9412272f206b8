import { describe, expect, it } from 'vitest';
import { Encoder } from 'socket.io-parser';
import { SOCKET_IO_MESSAGE, parseSocketIoMessage, socketIoEmitFrame, socketIoEmitsFrame, withOffset } from '@switchboard/protocol';
import { eventFrameText, readPlainBroadcasts } from '../src/socketio/broadcast-text.js';

const everyone = { rooms: [], except: [] };
const room = (name: string) => ({ rooms: [name], except: [] });

/** Arguments whose text holds what a careless reader would take for the frame's own structure. */
const TRICKY: unknown[] = [
  { message: 'a "quoted" ] } message', stack: 'at x\\y\\', nested: { a: [1, [2, { nsp: '/' }]], b: { type: 2, data: [] } } },
  'ends with a backslash \\',
  '\\"',
  { unicode: 'é 日本 😀 \u2028', control: '\n\t\u0001', empty: '', zero: 0, neg: -1.5e-7, t: true, f: false, n: null },
  [[], {}, [{}], { '': [] }],
];

/** What the full parse and Socket.IO's encoder make of a frame: each plain broadcast's topic text. */
function fullPath(frame: string, at: (i: number, n: number) => string): { rooms: string[]; text: string }[] {
  const parsed = parseSocketIoMessage(frame);
  if (!parsed.ok) throw new Error(parsed.error);
  const message = parsed.value;
  const parts = message.type === SOCKET_IO_MESSAGE.broadcasts ? message.data.parts : message.type === SOCKET_IO_MESSAGE.broadcast ? [message.data] : [];
  return parts.map((part, i) => {
    const data = [...(part.packet.data ?? []), at(i, parts.length)];
    const [encoded] = new Encoder().encode({ type: 2, nsp: message.nsp, data }) as string[];
    return { rooms: part.opts.rooms, text: `4${encoded}` };
  });
}

function fastPath(frame: string, nsp: string, at: (i: number, n: number) => string): { rooms: string[]; text: string }[] | undefined {
  return readPlainBroadcasts(frame, nsp)?.map((part, i, all) => ({ rooms: part.rooms, text: eventFrameText(nsp, part.openDataText, at(i, all.length)) }));
}

const offsetOf = (i: number, n: number) => (i === n - 1 ? 'ep-1:42' : `ep-1:42.${i}`);

describe('readPlainBroadcasts', () => {
  it("gives the text Socket.IO's parse and encoder give, for the worker's frames, offset appended or not", () => {
    for (const args of [[{ id: 'e1', level: 'error' }], TRICKY, ['x']]) {
      const frames = [
        socketIoEmitsFrame('/', [
          { to: everyone, event: 'error:new', args },
          { to: room('service:a"b'), event: 'error:service', args },
          { to: room('level:error'), event: 'error:level', args },
        ]),
        socketIoEmitFrame('/', everyone, 'job:progress', ...args),
      ];
      for (const frame of [...frames, ...frames.map((f) => withOffset(f, 42))]) {
        const fast = fastPath(frame, '/', offsetOf);
        expect(fast).toBeDefined();
        expect(fast).toEqual(fullPath(frame, offsetOf));
      }
    }
  });

  it('reads frames of shared arguments (none, or several) as the full parse does, escaped room names too', () => {
    for (const args of [[], ['a', 2], TRICKY]) {
      const frame = socketIoEmitsFrame('/', [
        { to: everyone, event: 'error:new', args },
        { to: room('service:a"b\\'), event: 'error:service', args },
        { to: room('level:error'), event: 'e"vent', args },
      ]);
      expect((JSON.parse(frame) as { type: number }).type).toBe(SOCKET_IO_MESSAGE.sharedBroadcasts);
      const fast = fastPath(withOffset(frame, 42), '/', offsetOf);
      expect(fast).toBeDefined();
      expect(fast).toEqual(fullPath(withOffset(frame, 42), offsetOf));
    }
  });

  it("reads the gateways' own broadcasts (socket.io-adapter's key order), on another namespace too", () => {
    for (const nsp of ['/', '/admin']) {
      const frame = JSON.stringify({
        type: SOCKET_IO_MESSAGE.broadcast,
        data: { packet: { type: 2, data: ['chat', ...TRICKY] }, opts: { rooms: ['r1'], except: [], flags: {} } },
        uid: 'abc123',
        nsp,
      });
      const fast = fastPath(frame, nsp, offsetOf);
      expect(fast).toEqual(fullPath(frame, offsetOf));
      expect(fast?.[0]?.text.startsWith(nsp === '/' ? '42["chat"' : `42${nsp},["chat"`)).toBe(true);
    }
  });

  it('leaves to the full parse every broadcast that is not plain, and frames of another form', () => {
    const plain = { type: 2, data: ['e', 1] };
    const frameWith = (data: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ uid: 'u', nsp: '/', type: 3, data, ...extra });
    const opts = { rooms: [], except: [], flags: {} };
    const notPlain = [
      frameWith({ packet: plain, opts: { ...opts, except: ['x'] } }),
      frameWith({ packet: plain, opts: { ...opts, flags: { volatile: true } } }),
      frameWith({ packet: plain, opts: { ...opts, rooms: ['a', 'b'] } }),
      frameWith({ packet: plain, opts, requestId: 'r1' }),
      frameWith({ packet: { ...plain, id: 3 }, opts }),
      frameWith({ packet: { type: 5, data: ['e'] }, opts }),
      frameWith({ packet: { type: 2, data: [] }, opts }),
      frameWith({ packet: plain, opts }, { extra: 1 }),
      JSON.stringify({ uid: 'u', nsp: '/other', type: 3, data: { packet: plain, opts } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 4, data: { opts, rooms: ['a'] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 100, data: { parts: [{ packet: plain, opts }, { packet: plain, opts: { ...opts, except: ['x'] } }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 100, data: { parts: [] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { args: [1], parts: [{ event: 'e', opts: { ...opts, except: ['x'] } }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { args: [1], parts: [{ event: 7, opts }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { args: {}, parts: [{ event: 'e', opts }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { parts: [{ event: 'e', opts }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { args: [], parts: [{ event: 'e', opts, packet: plain }] } }),
      JSON.stringify({ uid: 'u', nsp: '/', type: 101, data: { args: [], parts: [] } }),
      // Not as JSON.stringify writes it, or not JSON at all.
      JSON.stringify({ uid: 'u', nsp: '/', type: 3, data: { packet: plain, opts } }, null, 1),
      frameWith({ packet: plain, opts }).slice(0, -2),
      frameWith({ packet: plain, opts }).replace('["e",1]', '["e",1}'),
      frameWith({ packet: plain, opts }).replace('"e"', '"e'),
      '{"uid":"u","uid":"u","nsp":"/","type":3}',
      '',
      'null',
    ];
    for (const frame of notPlain) expect(readPlainBroadcasts(frame, '/'), frame).toBeUndefined();
  });
});

describe('eventFrameText', () => {
  it("appends the recovery offset as Socket.IO's encoder writes it", () => {
    const data = ['error:new', { a: 1 }];
    for (const nsp of ['/', '/admin']) {
      const [encoded] = new Encoder().encode({ type: 2, nsp, data: [...data, 'e"p:7.1'] }) as string[];
      expect(eventFrameText(nsp, JSON.stringify(data).slice(0, -1), 'e"p:7.1')).toBe(`4${encoded}`);
    }
  });
});
