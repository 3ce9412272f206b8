/**
 * The load generators' wire-level Socket.IO client against a real Socket.IO server in this
 * process: it joins the main namespace, reads broadcast events' names and packets, gets acks,
 * answers the server's pings (it stays connected well past several ping timeouts), reports a
 * refused connection with the server's reason, and recovers its session after a cut connection.
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Server } from 'socket.io';
import { SioSession, connectSioWire, eventName, lastStringArgument } from '../src/load/sio-wire.js';

interface Started {
  io: Server;
  base: string;
}

async function start(configure: (io: Server) => void = () => undefined, recovery = false): Promise<Started & { http: HttpServer }> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], pingInterval: 50, pingTimeout: 1_000, ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 60_000 } } : {}) });
  configure(io);
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return { io, http, base: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 15_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the wire-level Socket.IO client of the load generators', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('reads event names only from event packets', () => {
    expect(eventName(Buffer.from('42["error:new",{"metadata":{"t":1}}]'))).toBe('error:new');
    expect(eventName(Buffer.from('43["x"]'))).toBeUndefined();
    expect(eventName(Buffer.from('42['))).toBeUndefined();
  });

  it('joins, receives broadcasts, gets acks and answers pings', async () => {
    const server = await start((io) =>
      io.on('connection', (socket) => {
        socket.on('subscribe', (room: string, ack: (answer: unknown) => void) => {
          void socket.join(room);
          ack({ ok: true, room });
        });
      }),
    );
    cleanup.push(() => new Promise<void>((r) => void server.io.close(() => r())));
    const events: { name: string; packet: string }[] = [];
    let closed = false;
    const socket = await connectSioWire(server.base, { onEvent: (name, packet) => events.push({ name, packet: packet.toString() }), onClose: () => (closed = true) }, 10_000);
    cleanup.push(() => socket.disconnect());

    expect(await socket.emitWithAck('subscribe', 'svc-1', 10_000)).toEqual({ ok: true, room: 'svc-1' });
    server.io.to('svc-1').emit('error:new', { metadata: { t: 123.5 } });
    await until(() => events.length === 1, 'the room event');
    expect(events[0]!.name).toBe('error:new');
    expect(events[0]!.packet).toContain('"t":123.5');

    // The server counts the pongs it gets: five answered pings, each one in time or it would have closed.
    let pongs = 0;
    for (const socket of server.io.of('/').sockets.values()) socket.conn.on('packet', (packet: { type: string }) => void (packet.type === 'pong' && (pongs += 1)));
    await until(() => pongs >= 5 || closed, 'five pongs');
    expect(closed).toBe(false);
    expect(server.io.of('/').sockets.size).toBe(1);

    socket.disconnect();
    await until(() => closed && server.io.of('/').sockets.size === 0, 'the disconnect');
  });

  it('rejects a connection the server refuses, with its reason', async () => {
    const server = await start((io) => io.use((_socket, next) => next(new Error('not allowed here'))));
    cleanup.push(() => new Promise<void>((r) => void server.io.close(() => r())));
    await expect(connectSioWire(server.base, { onEvent: () => undefined, onClose: () => undefined }, 10_000)).rejects.toThrow(/not allowed here/);
  });

  it("reads an event's offset from its last argument, when a string", () => {
    expect(lastStringArgument('42["error:new",{"a":1},"e1:17"]')).toBe('e1:17');
    expect(lastStringArgument('42["switchboard:offset","e1:3.2"]')).toBe('e1:3.2');
    expect(lastStringArgument('42["error:new",{"a":"x"}]')).toBeUndefined();
    expect(lastStringArgument('42["error:new",{"a":"x\\"y"}]')).toBeUndefined();
    expect(lastStringArgument('42["only"]')).toBe('only');
  });

  it('recovers its session after a cut connection: the events it missed, once and in order', async () => {
    const server = await start((io) => io.on('connection', (socket) => void socket.join('svc-1')), true);
    cleanup.push(() => new Promise<void>((r) => void server.io.close(() => r())));
    const seen: number[] = [];
    const handlers = { onEvent: (_name: string, packet: Buffer) => seen.push(Number(/"n":(\d+)/.exec(packet.toString())?.[1])), onClose: () => undefined };
    const session = new SioSession();
    const first = await connectSioWire(server.base, handlers, 10_000, session);
    expect(first.recovered).toBe(false);
    server.io.to('svc-1').emit('tick', { n: 1 });
    await until(() => seen.length === 1 && session.offset !== undefined, 'the first event and its offset');

    first.terminate();
    await until(() => server.io.of('/').sockets.size === 0, 'the server to notice the cut');
    server.io.to('svc-1').emit('tick', { n: 2 });
    server.io.to('svc-1').emit('tick', { n: 3 });
    const second = await connectSioWire(server.base, handlers, 10_000, session);
    cleanup.push(() => second.disconnect());
    expect(second.recovered).toBe(true);
    await until(() => seen.length === 3, 'the missed events');
    expect(seen).toEqual([1, 2, 3]);

    // A session the server does not know is not recovered: the client starts afresh.
    session.pid = 'unknown';
    const third = await connectSioWire(server.base, handlers, 10_000, session);
    cleanup.push(() => third.disconnect());
    expect(third.recovered).toBe(false);
    expect(session.pid).not.toBe('unknown');
  });
});
