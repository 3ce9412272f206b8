import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorEventRecord } from '@switchboard/protocol';
import { Server, type ServerOptions, type Socket } from 'socket.io';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorMonitorClient } from '../src/socketio/error-monitor.js';
import { errorFeedStore } from '../src/stores/stores.js';
import { until } from './local-server.js';

/**
 * The Socket.IO clients across a reconnect, against a real in-process Socket.IO server playing
 * the gateway: with connection state recovery the session comes back (rooms and missed packets)
 * and the client keeps what it has; without it the client joins its rooms again and its stores
 * say that events may be missing.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const record = (id: string): ErrorEventRecord => ({ id, service: 'billing', message: id, stack: null, path: null, method: null, level: 'error', metadata: null, createdAt: '2026-01-01T00:00:00.000Z' });

async function startServer(options: Partial<ServerOptions>) {
  const http = createServer();
  const io = new Server(http, options);
  const joins: string[] = [];
  const sockets: Socket[] = [];
  io.on('connection', (socket) => {
    sockets.push(socket);
    socket.on('subscribe:service', (name: string, ack: (answer: unknown) => void) => {
      joins.push(name);
      void socket.join(`service:${name}`);
      ack({ ok: true });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => void io.close(() => resolve())));
  return { io, joins, sockets, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}` };
}

function monitor(url: string) {
  const client = new ErrorMonitorClient({ url, reconnect: { initialDelayMs: 20, maxDelayMs: 100 }, socketOptions: { transports: ['websocket'] } });
  cleanups.push(() => client.close());
  const feed = errorFeedStore(client, { service: 'billing' });
  cleanups.push(feed.subscribe(() => undefined));
  const resumed: { recovered: boolean }[] = [];
  client.on('resumed', (r) => resumed.push(r));
  return { client, feed, resumed, ids: () => feed.getSnapshot().records.map((r) => r.id) };
}

/** Drops the client's transport (as a network failure would) and emits while it is away. */
async function dropAndEmit(server: Awaited<ReturnType<typeof startServer>>, client: ErrorMonitorClient, ids: string[]) {
  const socket = server.sockets.at(-1);
  const gone = new Promise<void>((resolve) => socket?.once('disconnect', () => resolve()));
  client.socket.io.engine.close();
  await gone;
  for (const id of ids) server.io.to('service:billing').emit('error:service', record(id));
}

describe('Socket.IO clients across a reconnect', () => {
  it('keep their rooms and stores, and get the missed events, when the server recovers the session', async () => {
    const server = await startServer({ connectionStateRecovery: { maxDisconnectionDuration: 60_000 } });
    const { client, feed, resumed, ids } = monitor(server.url);
    await until(() => server.joins.length === 1, 'the room joined');
    server.io.to('service:billing').emit('error:service', record('before'));
    await until(() => ids().length === 1, 'the first record');

    await dropAndEmit(server, client, ['missed-1', 'missed-2']);
    await until(() => ids().length === 3, 'the missed records');
    expect(ids()).toEqual(['missed-2', 'missed-1', 'before']);
    expect(resumed).toEqual([{ recovered: true }]);
    expect(client.socket.recovered).toBe(true);
    // The session came back with its rooms: nothing joined again.
    expect(server.joins).toEqual(['billing']);
    expect(feed.getSnapshot().missed).toBe(false);
  });

  it('join their rooms again and mark their stores when the session is not recovered', async () => {
    const server = await startServer({});
    const { client, feed, resumed, ids } = monitor(server.url);
    await until(() => server.joins.length === 1, 'the room joined');

    await dropAndEmit(server, client, ['lost']);
    await until(() => server.joins.length === 2, 'the room joined again');
    server.io.to('service:billing').emit('error:service', record('after'));
    await until(() => ids().length === 1, 'the record after the reconnect');
    expect(ids()).toEqual(['after']);
    expect(resumed).toEqual([{ recovered: false }]);
    expect(feed.getSnapshot().missed).toBe(true);
  });
});
