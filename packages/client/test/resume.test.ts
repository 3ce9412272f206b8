import type { LogEntry } from '@switchboard/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '../src/analytics/client.js';
import { AvailabilityClient } from '../src/availability/client.js';
import { FrameError } from '../src/core/errors.js';
import { ChannelCursor, type Gap, type ResumeOutcome } from '../src/core/resume.js';
import { LogsClient } from '../src/logs/client.js';
import { logStreamStore } from '../src/stores/stores.js';
import { startLocalServer, stats, until, type Connection } from './local-server.js';

/**
 * Resume after a reconnect, against the local fake server playing the gateway's part of the
 * contract: the first frame carries `epoch` and `offset`; a reconnect passes them back
 * (`?epoch=&since=` or the logs `auth` fields) and gets `resumed` + the missed frames, or
 * `recovered:false`.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const fast = { initialDelayMs: 20, maxDelayMs: 100, restartJitterMs: 20, stableAfterMs: 60_000 };
const send = (connection: Connection | undefined, frame: Record<string, unknown>) => connection?.socket.send(JSON.stringify(frame));
const pageView = (offset: number) => ({ type: 'page_view', id: `id-${offset}`, visitor_id: `v${offset}`, timestamp: '2026-01-01T00:00:00.000Z', data: {}, offset });
const query = (connection: Connection | undefined) => new URL(connection?.request.url ?? '/', 'http://x').searchParams;

function analytics(url: string, extra: Partial<ConstructorParameters<typeof AnalyticsClient>[0]> = {}) {
  const client = new AnalyticsClient({ url, WebSocket, reconnect: fast, ...extra });
  const seen = { offsets: [] as (number | undefined)[], resumed: [] as ResumeOutcome[], gaps: [] as Gap[], errors: [] as Error[] };
  client.on('event', (e) => seen.offsets.push(e.offset));
  client.on('resumed', (r) => seen.resumed.push(r));
  client.on('gap', (g) => seen.gaps.push(g));
  client.on('error', (e) => seen.errors.push(e));
  cleanups.push(() => client.close());
  return { client, seen };
}

/** A server whose n-th connection (from 1) is scripted by `script`. */
async function scripted(script: (connection: Connection, n: number) => void) {
  let n = 0;
  const server = await startLocalServer({ onConnection: (connection) => script(connection, ++n) });
  cleanups.push(server.close);
  return server;
}

describe('analytics: resume after a reconnect', () => {
  it('passes epoch and the last processed offset, keeps its state and shows every frame once across a recovered seam', async () => {
    const server = await scripted((c, n) => {
      if (n === 1) {
        send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 10 });
        for (const offset of [11, 12]) send(c, pageView(offset));
        return;
      }
      send(c, { type: 'initial_stats', data: stats(9), epoch: 'e1', offset: 16 });
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 4 });
      // 13..16 missed; a heartbeat among them is older than the figures above.
      send(c, pageView(13));
      send(c, { type: 'heartbeat', data: stats(5), offset: 14 });
      send(c, pageView(15));
      send(c, pageView(16));
      // Live frames at the seam, one of them a repeat of a replayed one.
      send(c, pageView(16));
      send(c, pageView(17));
    });
    const { client, seen } = analytics(server.url);
    await until(() => seen.offsets.length === 2, 'the first two events');
    expect(query(server.connections[0]).has('epoch')).toBe(false);
    expect(client.position).toEqual({ epoch: 'e1', offset: 12 });

    server.connections[0]?.socket.close(1012, 'service restart');
    await until(() => seen.offsets.includes(17), 'the live event after the replay');
    expect(query(server.connections[1]).get('epoch')).toBe('e1');
    expect(query(server.connections[1]).get('since')).toBe('12');
    expect(seen.offsets).toEqual([11, 12, 13, 15, 16, 17]);
    expect(seen.resumed).toEqual([{ recovered: true, epoch: 'e1', count: 4 }]);
    expect(seen.gaps).toEqual([]);
    expect(seen.errors).toEqual([]);
    // The replayed heartbeat did not take the fresher figures back.
    expect(client.stats?.current_visitors).toBe(9);
    expect(client.position).toEqual({ epoch: 'e1', offset: 17 });
  });

  it('emits gap only when the server answers recovered:false, then goes on from the fresh state in the new epoch', async () => {
    const server = await scripted((c, n) => {
      if (n === 1) {
        send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 3 });
        send(c, pageView(4));
      } else if (n === 2) {
        // Redis came back empty: a new epoch, offsets from the start.
        send(c, { type: 'initial_stats', data: stats(0), epoch: 'e2', offset: 1 });
        send(c, { type: 'resumed', recovered: false, epoch: 'e2', offset: 1 });
        send(c, pageView(2));
      } else {
        send(c, { type: 'initial_stats', data: stats(0), epoch: 'e2', offset: 2 });
        send(c, { type: 'resumed', recovered: true, epoch: 'e2', count: 0 });
        send(c, pageView(3));
      }
    });
    const { client, seen } = analytics(server.url);
    await until(() => seen.offsets.length === 1, 'the first event');
    server.connections[0]?.socket.terminate();
    await until(() => seen.offsets.length === 2, 'the event in the new epoch');
    expect(seen.resumed).toEqual([{ recovered: false, epoch: 'e2', offset: 1 }]);
    expect(seen.gaps).toEqual([{ channel: 'analytics', expected: 5, got: 2, reason: 'not_recovered' }]);
    expect(client.stats?.current_visitors).toBe(0);
    expect(client.position).toEqual({ epoch: 'e2', offset: 2 });

    server.connections[1]?.socket.terminate();
    await until(() => seen.offsets.length === 3, 'the event after the next resume');
    expect(query(server.connections[2]).get('epoch')).toBe('e2');
    expect(query(server.connections[2]).get('since')).toBe('2');
    expect(seen.offsets).toEqual([4, 2, 3]);
    expect(seen.gaps).toHaveLength(1);
    expect(seen.errors).toEqual([]);
  });

  it('treats a malformed resumed frame as not recovered, reports it, and drops a replay it cannot trust', async () => {
    const answers: Record<string, unknown>[] = [
      { type: 'resumed', recovered: 'yes', epoch: 'e1', count: 1 },
      { type: 'resumed', recovered: true, epoch: 'other', count: 1 },
      { type: 'resumed', recovered: true, epoch: 'e1', count: -1 },
      { type: 'resumed', recovered: false, epoch: 'e1' },
      { type: 'resumed', recovered: true, count: 1 },
    ];
    const server = await scripted((c, n) => {
      if (n === 1) {
        send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 5 });
        return;
      }
      // The hello's fresh state covers everything up to its offset: a replayed 6 would be a repeat.
      send(c, { type: 'initial_stats', data: stats(n), epoch: 'e1', offset: 20 * n });
      send(c, answers[n - 2] ?? {});
      send(c, pageView(6));
      send(c, pageView(20 * n + 1));
    });
    const { seen } = analytics(server.url);
    await until(() => server.attempts() === 1 && seen.errors.length === 0 && server.connections[0]?.socket.readyState === 1, 'connected');
    for (let round = 0; round < answers.length; round += 1) {
      await until(() => server.connections[round]?.socket.readyState === 1, `connection ${round + 1}`);
      await until(() => round === 0 || seen.offsets.includes(20 * (round + 1) + 1), `the live event of round ${round}`);
      server.connections[round]?.socket.terminate();
    }
    await until(() => seen.offsets.includes(20 * (answers.length + 1) + 1), 'the last live event');
    expect(seen.errors.map((e) => e.message)).toEqual([
      'bad "resumed" frame: recovered must be a boolean',
      'bad "resumed" frame: recovered in epoch "other", but the client asked to resume epoch "e1"',
      'bad "resumed" frame: count must be a non-negative integer',
      'bad "resumed" frame: offset must be a non-negative integer',
      'bad "resumed" frame: epoch must be a non-empty string',
    ]);
    expect(seen.errors.every((e) => e instanceof FrameError)).toBe(true);
    expect(seen.resumed.every((r) => !r.recovered)).toBe(true);
    expect(seen.resumed).toHaveLength(answers.length);
    expect(seen.gaps.map((g) => g.reason)).toEqual(answers.map(() => 'not_recovered'));
    // Only the live events: the untrusted replay (offset 6) never reached the app.
    expect(seen.offsets).toEqual([41, 61, 81, 101, 121]);
  });

  it('reports a resumed frame nobody asked for and ignores it', async () => {
    const server = await scripted((c) => {
      send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 1 });
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 3 });
      send(c, pageView(2));
    });
    const { seen } = analytics(server.url);
    await until(() => seen.offsets.length === 1, 'the event');
    expect(seen.resumed).toEqual([]);
    expect(seen.errors.map((e) => e.message)).toEqual(['bad "resumed" frame: a "resumed" frame without a resume in progress']);
  });

  it('filters replayed events by the subscription (the server replays before the filter is re-sent)', async () => {
    const server = await scripted((c, n) => {
      c.socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; events?: string[] };
        if (message.type === 'subscribe') send(c, { type: 'subscribed', events: message.events });
      });
      if (n === 1) return void send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 1 });
      send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 4 });
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 3 });
      send(c, { ...pageView(2), type: 'letter_generated' });
      send(c, pageView(3));
      send(c, { ...pageView(4), type: 'letter_generated' });
    });
    const { client, seen } = analytics(server.url);
    const types: string[] = [];
    client.on('event', (e) => types.push(e.type));
    await until(() => client.position !== undefined, 'the first frame');
    await client.subscribe(['letter_generated']);
    server.connections[0]?.socket.terminate();
    await until(() => seen.offsets.length === 2, 'the replayed letters');
    expect(types).toEqual(['letter_generated', 'letter_generated']);
    expect(client.position).toEqual({ epoch: 'e1', offset: 4 });
  });

  it('resumes from a saved position on its first connection (resumeFrom), and ignores an invalid one', async () => {
    const server = await scripted((c) => send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 50 }));
    analytics(server.url, { resumeFrom: { epoch: 'e1', offset: 42 } });
    await until(() => server.attempts() === 1, 'the connection');
    expect(query(server.connections[0]).get('since')).toBe('42');
    analytics(server.url, { resumeFrom: { epoch: '', offset: -1 } });
    await until(() => server.attempts() === 2, 'the second connection');
    expect(query(server.connections[1]).has('since')).toBe(false);
  });
});

describe('availability: resume after a reconnect', () => {
  it('resumes from the last alert and delivers the missed ones once', async () => {
    const alert = (offset: number) => ({
      type: 'tour.availability.low',
      id: `a${offset}`,
      data: { tourId: 't', tourTitle: 'Tour', availableSeats: 1, maxGroupSize: 10, threshold: 2 },
      timestamp: '2026-01-01T00:00:00.000Z',
      offset,
    });
    const server = await scripted((c, n) => {
      send(c, { type: 'connection', clientId: `c${n}`, message: 'hi', timestamp: '2026-01-01T00:00:00.000Z', epoch: 'e1', offset: n === 1 ? 0 : 3 });
      if (n === 1) return void send(c, alert(1));
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 2 });
      for (const offset of [2, 3, 3, 4]) send(c, alert(offset));
    });
    const client = new AvailabilityClient({ url: server.url, WebSocket, reconnect: fast });
    cleanups.push(() => client.close());
    const offsets: (number | undefined)[] = [];
    const gaps: Gap[] = [];
    client.on('alert', (a) => offsets.push(a.offset));
    client.on('gap', (g) => gaps.push(g));
    await until(() => offsets.length === 1, 'the first alert');
    server.connections[0]?.socket.terminate();
    await until(() => offsets.length === 4, 'the replayed and live alerts');
    expect(query(server.connections[1]).get('epoch')).toBe('e1');
    expect(query(server.connections[1]).get('since')).toBe('1');
    expect(offsets).toEqual([1, 2, 3, 4]);
    expect(gaps).toEqual([]);
  });
});

describe('logs: resume after a reconnect', () => {
  const entry = (id: string, level = 'info'): LogEntry => ({ id, timestamp: 1_700_000_000_000, level, message: id, appId: 'shop', userId: 'u1' });
  const batch = (fromOffset: number, offset: number, ids: string[]) => ({ type: 'logs', payload: ids.map((id) => entry(id)), fromOffset, offset });

  function logsServer(script: (c: Connection, n: number, auth: Record<string, unknown>) => void) {
    return scripted((c, n) => {
      c.socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { type: string; data?: Record<string, unknown> };
        if (message.type === 'auth') script(c, n, message.data ?? {});
        if (message.type === 'request_history') send(c, { type: 'logs', payload: [entry('h1'), entry('h2')] });
      });
    });
  }

  it('passes epoch and since in auth, and drops the repeated part of a batch that overlaps the replay', async () => {
    const server = await logsServer((c, n) => {
      send(c, { type: 'auth_success', payload: { appId: 'shop', userId: 'u1' }, epoch: 'e1', offset: n === 1 ? 0 : 5 });
      if (n === 1) return void send(c, batch(1, 2, ['l1', 'l2']));
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 2 });
      send(c, batch(3, 3, ['l3']));
      send(c, batch(4, 4, ['l4']));
      // A live batch 4..5 whose first entry was just replayed.
      send(c, batch(4, 5, ['l4', 'l5']));
    });
    const client = new LogsClient({ url: server.url, WebSocket, reconnect: fast, appId: 'shop', userId: 'u1' });
    cleanups.push(() => client.close());
    const ids: string[] = [];
    const resumed: ResumeOutcome[] = [];
    client.on('logs', (entries) => ids.push(...entries.map((e) => e.id)));
    client.on('resumed', (r) => resumed.push(r));
    await until(() => ids.length === 2, 'the first batch');
    server.connections[0]?.socket.terminate();
    await until(() => ids.includes('l5'), 'the live batch');
    const auth = server.connections[1]?.received.find((m) => m['type'] === 'auth');
    expect(auth?.['data']).toEqual({ userId: 'u1', appId: 'shop', epoch: 'e1', since: 2 });
    expect(ids).toEqual(['l1', 'l2', 'l3', 'l4', 'l5']);
    expect(resumed).toEqual([{ recovered: true, epoch: 'e1', count: 2 }]);
    // Recovered: nothing to refetch.
    expect(server.connections[1]?.received.some((m) => m['type'] === 'request_history')).toBe(false);
  });

  it('keeps a log store across a recovered reconnect and refetches history when not recovered', async () => {
    const server = await logsServer((c, n) => {
      send(c, { type: 'auth_success', payload: { appId: 'shop', userId: 'u1' }, epoch: n < 3 ? 'e1' : 'e2', offset: n === 1 ? 0 : 1 });
      if (n === 1) return void send(c, batch(1, 1, ['l1']));
      if (n === 2) {
        send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 0 });
        return void send(c, batch(2, 2, ['l2']));
      }
      send(c, { type: 'resumed', recovered: false, epoch: 'e2', offset: 1 });
    });
    let client: LogsClient | undefined;
    const store = logStreamStore(() => (client = new LogsClient({ url: server.url, WebSocket, reconnect: fast, appId: 'shop', userId: 'u1' })));
    const off = store.subscribe(() => undefined);
    cleanups.push(off);
    const ids = () => store.getSnapshot().entries.map((e) => e.id);
    await until(() => ids().includes('l1') && ids().includes('h1'), 'history and the first batch');
    const requests = (i: number) => server.connections[i]?.received.filter((m) => m['type'] === 'request_history').length;
    expect(requests(0)).toBe(1);

    server.connections[0]?.socket.terminate();
    await until(() => ids().includes('l2'), 'the live entry after the recovered reconnect');
    expect(ids()).toEqual(['h1', 'h2', 'l1', 'l2']);
    expect(requests(1)).toBe(0);

    const gaps: Gap[] = [];
    client?.on('gap', (g) => gaps.push(g));
    server.connections[1]?.socket.terminate();
    await until(() => requests(2) === 1, 'the history request after recovered:false');
    expect(gaps).toEqual([{ channel: 'logs:shop', expected: 3, got: 2, reason: 'not_recovered' }]);
    // The store merges the refetched history with what it had.
    expect(ids()).toEqual(['h1', 'h2', 'l1', 'l2']);
  });

  it('applies its filter to replayed entries', async () => {
    const server = await logsServer((c, n) => {
      send(c, { type: 'auth_success', payload: { appId: 'shop', userId: 'u1' }, epoch: 'e1', offset: n === 1 ? 0 : 2 });
      if (n === 1) return;
      send(c, { type: 'resumed', recovered: true, epoch: 'e1', count: 2 });
      send(c, { type: 'logs', payload: [entry('debug-1', 'debug')], offset: 1 });
      send(c, { type: 'logs', payload: [entry('error-1', 'error')], offset: 2 });
    });
    const client = new LogsClient({ url: server.url, WebSocket, reconnect: fast, appId: 'shop', userId: 'u1', filter: { level: ['error'] } });
    cleanups.push(() => client.close());
    const ids: string[] = [];
    client.on('logs', (entries) => ids.push(...entries.map((e) => e.id)));
    await until(() => client.position !== undefined, 'authenticated');
    server.connections[0]?.socket.terminate();
    await until(() => ids.length === 1 && client.position?.offset === 2, 'the replayed entries');
    expect(ids).toEqual(['error-1']);
  });
});

describe('ChannelCursor', () => {
  it('drops frames at or below the last processed offset within an epoch', () => {
    const cursor = new ChannelCursor('analytics');
    cursor.beginConnection();
    cursor.opened();
    expect(cursor.onHello({ epoch: 'e', offset: 5 })).toEqual({ kind: 'fresh' });
    expect(cursor.place(5, 5, true)).toEqual({ kind: 'duplicate' });
    expect(cursor.place(6, 6, true)).toEqual({ kind: 'new', gap: undefined });
    expect(cursor.place(5, 7, true)).toEqual({ kind: 'overlap', lastProcessed: 6 });
    expect(cursor.place(9, 9, true)).toEqual({ kind: 'new', gap: { channel: 'analytics', expected: 8, got: 9, reason: 'offset_jump' } });
    cursor.rebase();
    expect(cursor.place(20, 20, true)).toEqual({ kind: 'new', gap: undefined });
    expect(cursor.place(30, 30, false)).toEqual({ kind: 'new', gap: undefined });
  });

  it('without epochs (an old server) takes an offset going backwards as a new baseline and starts over on each connection', () => {
    const cursor = new ChannelCursor('analytics');
    cursor.beginConnection();
    cursor.opened();
    expect(cursor.onHello({})).toEqual({ kind: 'fresh' });
    cursor.place(500, 500, true);
    expect(cursor.place(1, 1, true)).toEqual({ kind: 'new', gap: undefined });
    expect(cursor.beginConnection()).toBeUndefined();
    cursor.opened();
    cursor.onHello({});
    expect(cursor.place(900, 900, true)).toEqual({ kind: 'new', gap: undefined });
  });

  it('ignores offsets that are not safe integers or inverted ranges', () => {
    const cursor = new ChannelCursor('analytics');
    cursor.beginConnection();
    cursor.opened();
    cursor.onHello({ epoch: 'e', offset: 1 });
    expect(cursor.place(Number.NaN, Number.NaN, true)).toEqual({ kind: 'new', gap: undefined });
    expect(cursor.place(9, 3, true)).toEqual({ kind: 'new', gap: undefined });
    expect(cursor.current).toEqual({ epoch: 'e', offset: 1 });
  });
});
