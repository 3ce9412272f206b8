import { describe, expect, it, vi } from 'vitest';
import type { Socket } from 'socket.io';
import { Encoder } from 'socket.io-parser';
import { MissedPacketEncoder, writeEncodedPackets } from '../src/socketio/missed-packets.js';

/**
 * Missed packets encoded once for every restored socket, as Socket.IO's own encoder writes them
 * (`2[<nsp>,]<arguments>`), and written to a socket corked when it is on uWebSockets.js.
 */
describe('MissedPacketEncoder', () => {
  it("encodes as Socket.IO's encoder does, on the main namespace and another one", () => {
    const packet = ['error:new', { id: 'e1', message: 'a "quoted" message', at: null }, 'ep:12'];
    for (const nsp of ['/', '/admin']) {
      expect([new MissedPacketEncoder(nsp).encode(packet)]).toEqual(new Encoder().encode({ type: 2, nsp, data: packet }));
    }
  });

  it('encodes each packet once, by its recovery offset, forgetting the oldest past its capacity', () => {
    const encoder = new MissedPacketEncoder('/', 2);
    const stringify = vi.spyOn(JSON, 'stringify');
    const a = ['tick', { n: 1 }, 'ep:1'];
    const b = ['tick', { n: 2 }, 'ep:2.0'];
    const c = ['tick', { n: 3 }, 'ep:2'];
    // Two sockets that missed the same packets: each encoded once.
    for (let socket = 0; socket < 2; socket++) for (const p of [a, b]) encoder.encode([...p]);
    expect(stringify).toHaveBeenCalledTimes(2);
    encoder.encode(c); // `a` is forgotten
    encoder.encode(a);
    expect(stringify).toHaveBeenCalledTimes(4);
    stringify.mockRestore();
    expect(encoder.encode(b)).toBe(`2${JSON.stringify(b)}`);
  });
});

describe('writeEncodedPackets', () => {
  const socketOn = (transport: object) => {
    const written: string[][] = [];
    const socket = { client: { _packet: (packets: string[]) => written.push(packets) }, conn: { transport } } as unknown as Socket;
    return { socket, written };
  };

  it('writes every packet in one corked call on a uWebSockets.js WebSocket', () => {
    const cork = vi.fn((write: () => void) => write());
    const { socket, written } = socketOn({ name: 'websocket', socket: { cork } });
    writeEncodedPackets(socket, ['2["a"]', '2["b"]']);
    expect(cork).toHaveBeenCalledTimes(1);
    expect(written).toEqual([['2["a"]', '2["b"]']]);
  });

  it('writes without corking on long-polling, and nothing when there is nothing', () => {
    const { socket, written } = socketOn({ name: 'polling' });
    writeEncodedPackets(socket, []);
    writeEncodedPackets(socket, ['2["a"]']);
    expect(written).toEqual([['2["a"]']]);
  });
});
