import type { LogEntry } from '@switchboard/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '../src/analytics/client.js';
import { LogsClient } from '../src/logs/client.js';
import { logStreamStore } from '../src/stores/stores.js';
import { messageText, startLocalServer, stats, until, type Connection } from './local-server.js';

/**
 * A refetch the client's state depends on (the logs history, fresh statistics) stays owed until
 * answered: a connection that closes before the answer (a gateway drained) is not an error, and
 * the request goes out again once the next connection is authenticated and its resume answered.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const fast = { initialDelayMs: 20, maxDelayMs: 100, restartJitterMs: 20, stableAfterMs: 60_000 };
const TIMEOUT_MS = 400;
const send = (connection: Connection | undefined, frame: Record<string, unknown>) => connection?.socket.send(JSON.stringify(frame));
const entry = (id: string): LogEntry => ({ id, timestamp: 1_700_000_000_000, level: 'info', message: id, appId: 'shop', userId: 'u1' });
const batch = (offset: number, ids: string[]) => ({ type: 'logs', payload: ids.map(entry), fromOffset: offset, offset });
const authSuccess = (epoch: string, offset: number) => ({ type: 'auth_success', payload: { appId: 'shop', userId: 'u1' }, epoch, offset });
const count = (connection: Connection | undefined, type: string) => connection?.received.filter((m) => m['type'] === type).length ?? 0;
/** Waits past the deadline a request sent at `since` would have had: a timeout that must not come. */
const pastDeadline = (since: number) => until(() => Date.now() - since > 2 * TIMEOUT_MS, 'past the request deadline');

/** A logs server: `onAuth` scripts the n-th connection (from 1), `onHistory` each request_history (answer or not). */
async function logsServer(onAuth: (c: Connection, n: number) => void, onHistory: (c: Connection, n: number) => void) {
  let n = 0;
  const server = await startLocalServer({
    onConnection: (c) => {
      const connection = ++n;
      c.socket.on('message', (data) => {
        const type = (JSON.parse(messageText(data)) as { type: string }).type;
        if (type === 'auth') onAuth(c, connection);
        if (type === 'request_history') onHistory(c, connection);
      });
    },
  });
  cleanups.push(server.close);
  return server;
}

function logsClient(url: string) {
  const client = new LogsClient({ url, WebSocket, reconnect: fast, requestTimeoutMs: TIMEOUT_MS, appId: 'shop', userId: 'u1' });
  cleanups.push(() => client.close());
  const seen = { history: [] as string[][], errors: [] as Error[] };
  client.on('history', (entries) => seen.history.push(entries.map((e) => e.id)));
  client.on('error', (err) => seen.errors.push(err));
  return { client, seen };
}

describe('logs: a lost-frames history refetch cut by a reconnect', () => {
  it('is sent again after the next resume (recovered there), once, and the history is applied once without an error', async () => {
    let cutAt = 0;
    const server = await logsServer(
      (c, n) => {
        if (n === 1) return void (send(c, authSuccess('e1', 0)), send(c, batch(1, ['l1'])));
        if (n === 2) {
          // Redis came back empty: not recovered, the client refetches the history on this connection.
          send(c, authSuccess('e2', 1));
          return void send(c, { type: 'resumed', recovered: false, epoch: 'e2', offset: 1 });
        }
        // Another gateway: the resume recovers, nothing was lost since.
        send(c, authSuccess('e2', 3));
        send(c, { type: 'resumed', recovered: true, epoch: 'e2', count: 0 });
      },
      (c, n) => {
        if (n === 3) return void send(c, { type: 'logs', payload: [entry('h1'), entry('h2')] });
        // A live jump on the same connection: a second gap while the refetch is on its way.
        send(c, batch(3, ['l3']));
        // The gateway is drained before it answers.
        setTimeout(() => {
          cutAt = Date.now();
          c.socket.close(1012, 'service restart');
        }, 50);
      },
    );
    const { client, seen } = logsClient(server.url);
    const gaps: string[] = [];
    client.on('gap', (g) => gaps.push(g.reason));
    await until(() => client.position?.offset === 1, 'the first batch');
    server.connections[0]?.socket.terminate();

    await until(() => seen.history.length === 1, 'the history, refetched on the third connection');
    expect(gaps).toEqual(['not_recovered', 'offset_jump']);
    // Two gaps on the second connection, one request; sent again on the third, once.
    expect(count(server.connections[1], 'request_history')).toBe(1);
    expect(count(server.connections[2], 'request_history')).toBe(1);
    expect(seen.history).toEqual([['h1', 'h2']]);
    // The request cut by the close is not an error, not even once its deadline has passed.
    await pastDeadline(cutAt);
    expect(seen.errors).toEqual([]);
    expect(seen.history).toHaveLength(1);
  });

  it('keeps the store initial history load across a reconnect that recovers', async () => {
    const server = await logsServer(
      (c, n) => {
        send(c, authSuccess('e1', n === 1 ? 0 : 1));
        if (n === 1) return void send(c, batch(1, ['l1']));
        send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 0 });
      },
      (c, n) => {
        if (n === 1) return void setTimeout(() => c.socket.close(1001, 'going away'), 50);
        send(c, { type: 'logs', payload: [entry('h1')] });
      },
    );
    const store = logStreamStore(() => new LogsClient({ url: server.url, WebSocket, reconnect: fast, requestTimeoutMs: TIMEOUT_MS, appId: 'shop', userId: 'u1' }));
    cleanups.push(store.subscribe(() => undefined));
    await until(() => store.getSnapshot().entries.some((e) => e.id === 'h1'), 'the history on the second connection');
    expect(store.getSnapshot().entries.map((e) => e.id)).toEqual(['h1', 'l1']);
    expect(count(server.connections[1], 'request_history')).toBe(1);
    expect(store.getSnapshot().error).toBeUndefined();
  });

  it('still fails when the live connection does not answer in time (once for several gaps), and when no reconnect follows', async () => {
    const server = await logsServer(
      (c, n) => {
        send(c, authSuccess('e1', 0));
        // Two live jumps: one refetch, which the server never answers.
        if (n === 1) for (const offset of [2, 4]) send(c, batch(offset, [`l${offset}`]));
      },
      () => undefined,
    );
    const { client, seen } = logsClient(server.url);
    await until(() => seen.errors.length > 0, 'the refetch timed out');
    const timedOutAt = Date.now();
    expect(count(server.connections[0], 'request_history')).toBe(1);
    await pastDeadline(timedOutAt);
    expect(seen.errors.map((e) => e.message)).toEqual([`request_history: no answer from the server within ${TIMEOUT_MS} ms`]);
    await expect(client.requestHistory()).rejects.toThrow(`request_history: no answer from the server within ${TIMEOUT_MS} ms`);

    const once = new LogsClient({ url: server.url, WebSocket, reconnect: false, requestTimeoutMs: 60_000, appId: 'shop', userId: 'u1' });
    cleanups.push(() => once.close());
    once.on('error', () => undefined);
    await until(() => once.state === 'open', 'the second client authenticated');
    const pending = once.requestHistory();
    server.connections[1]?.socket.close(1001, 'going away');
    await expect(pending).rejects.toThrow('connection closed (1001) and no reconnect follows');
  });
});

describe('analytics: a stats refresh cut by a reconnect', () => {
  it('is answered by the next connection first frame, without a second request or an error', async () => {
    let n = 0;
    let cutAt = 0;
    const server = await startLocalServer({
      onConnection: (c) => {
        n += 1;
        if (n === 1) {
          send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 1 });
          c.socket.on('message', (data) => {
            if ((JSON.parse(messageText(data)) as { type: string }).type !== 'refresh_stats') return;
            cutAt = Date.now();
            c.socket.close(1012, 'service restart');
          });
          // Offsets jump on the live connection: the client asks for fresh figures.
          return void send(c, { type: 'page_view', id: 'p5', visitor_id: 'v', timestamp: '2026-01-01T00:00:00.000Z', data: {}, offset: 5 });
        }
        send(c, { type: 'initial_stats', data: stats(7), epoch: 'e1', offset: 5 });
        send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 0 });
      },
    });
    cleanups.push(server.close);
    const client = new AnalyticsClient({ url: server.url, WebSocket, reconnect: fast, requestTimeoutMs: TIMEOUT_MS });
    cleanups.push(() => client.close());
    const errors: Error[] = [];
    client.on('error', (err) => errors.push(err));
    await until(() => client.stats?.current_visitors === 7 && cutAt > 0, 'the figures of the second connection');
    await pastDeadline(cutAt);
    expect(errors).toEqual([]);
    expect(count(server.connections[1], 'refresh_stats')).toBe(0);
  });
});
