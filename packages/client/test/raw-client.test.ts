import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '../src/analytics/client.js';
import { AuthError, ClientClosedError, FrameError } from '../src/core/errors.js';
import type { Gap } from '../src/core/resume.js';
import type { ConnectionState } from '../src/core/reconnecting-socket.js';
import { messageText, startLocalServer, stats, until } from './local-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const fast = { initialDelayMs: 20, maxDelayMs: 100, restartJitterMs: 20, stableAfterMs: 60_000 };

function analytics(url: string, extra: Partial<ConstructorParameters<typeof AnalyticsClient>[0]> = {}) {
  const client = new AnalyticsClient({ url, WebSocket, reconnect: fast, ...extra });
  const errors: Error[] = [];
  const states: ConnectionState[] = [];
  client.on('error', (err) => errors.push(err));
  client.on('state', (state) => states.push(state));
  cleanups.push(() => client.close());
  return { client, errors, states };
}

describe('frame parsing', () => {
  it('reports every malformed frame as an error event and keeps working', async () => {
    const server = await startLocalServer({
      onConnection: ({ socket }) => {
        socket.send('not json');
        socket.send('[1,2]');
        socket.send('{"no":"type"}');
        socket.send(JSON.stringify({ type: 'heartbeat', data: { current_visitors: 'many' } }));
        socket.send(JSON.stringify({ type: 'page_view', visitor_id: 42 }));
        socket.send(Buffer.from([1, 2, 3]), { binary: true });
        socket.send(JSON.stringify({ type: 'heartbeat', data: stats(7), offset: 1 }));
      },
    });
    cleanups.push(server.close);
    const { client, errors } = analytics(server.url);
    const beats: number[] = [];
    client.on('heartbeat', (s) => beats.push(s.current_visitors));
    await until(() => beats.length === 1, 'the good heartbeat');
    expect(errors.map((e) => e.message)).toEqual([
      'bad frame from the server: invalid JSON',
      'bad frame from the server: frame is not a JSON object',
      'bad frame from the server: frame has no string "type"',
      expect.stringMatching(/^bad "heartbeat" frame: data must carry numeric current_visitors/),
      'bad "page_view" frame: visitor_id must be a string',
      'bad frame from the server: binary frame (expected JSON text)',
    ]);
    expect(errors.every((e) => e instanceof FrameError)).toBe(true);
    expect((errors[0] as FrameError).frame).toBe('not json');
    expect(client.state).toBe('open');
  });

  it('reports a listener that throws as an error event instead of breaking the socket callback', async () => {
    const server = await startLocalServer({ onConnection: ({ socket }) => socket.send(JSON.stringify({ type: 'initial_stats', data: stats(1) })) });
    cleanups.push(server.close);
    const { client, errors } = analytics(server.url);
    client.on('initial_stats', () => {
      throw new Error('listener bug');
    });
    await until(() => errors.length === 1, 'the reported listener error');
    expect(errors[0]?.message).toBe('listener bug');
  });
});

describe('reconnection', () => {
  it('reconnects after a dropped connection and re-sends the subscription', async () => {
    const server = await startLocalServer({
      onConnection: ({ socket }) => socket.on('message', () => socket.send(JSON.stringify({ type: 'subscribed', events: ['letter_generated'] }))),
    });
    cleanups.push(server.close);
    const { client, states } = analytics(server.url);
    await until(() => client.state === 'open', 'open');
    await expect(client.subscribe(['letter_generated'])).resolves.toEqual(['letter_generated']);
    server.connections[0]?.socket.terminate();
    await until(() => server.attempts() === 2 && server.connections[1]?.received.length === 1, 'the re-sent subscription');
    expect(server.connections[1]?.received[0]).toEqual({ type: 'subscribe', events: ['letter_generated'] });
    await until(() => client.state === 'open', 'open again');
    expect(states).toEqual(['open', 'reconnecting', 'open']);
  });

  it('fails a ping cut by a closing connection at once, and confirms a cut subscribe on the next connection', async () => {
    // The first connection drops whatever it is asked; the next one answers.
    const server = await startLocalServer({
      onConnection: ({ socket }) =>
        socket.on('message', (data) => {
          if (server.attempts() === 1) return void socket.terminate();
          const type = (JSON.parse(messageText(data)) as { type: string }).type;
          if (type === 'subscribe') socket.send(JSON.stringify({ type: 'subscribed', events: ['letter_generated'] }));
        }),
    });
    cleanups.push(server.close);
    // A deadline far beyond the test's: only the closing connection can settle the ping in time.
    const { client } = analytics(server.url, { requestTimeoutMs: 120_000 });
    await until(() => client.state === 'open', 'open');
    const ping = client.ping();
    await expect(ping).rejects.toBeInstanceOf(ClientClosedError);
    await expect(ping).rejects.toThrow(/ping: the connection closed before the answer/);
    await until(() => client.state === 'open' && server.attempts() === 2, 'the second connection');
    server.connections[1]?.socket.terminate();
    await until(() => server.attempts() === 3 && client.state === 'open', 'the third connection');
    // Cut on the third connection (dropped), answered on the fourth, where the filter is re-sent.
    const third = server.connections[2];
    third?.socket.removeAllListeners('message');
    third?.socket.on('message', () => third.socket.terminate());
    await expect(client.subscribe(['letter_generated'])).resolves.toEqual(['letter_generated']);
    expect(server.attempts()).toBe(4);
  });

  it('reconnects promptly after 1012 (service restart)', async () => {
    const server = await startLocalServer();
    cleanups.push(server.close);
    const { client } = analytics(server.url, { reconnect: { ...fast, initialDelayMs: 60_000, maxDelayMs: 60_000 } });
    const closes: number[] = [];
    client.on('disconnect', ({ code, reconnectInMs }) => {
      closes.push(code);
      expect(reconnectInMs).toBeLessThan(fast.restartJitterMs);
    });
    await until(() => client.state === 'open', 'open');
    server.connections[0]?.socket.close(1012, 'service restart');
    // A normal backoff would wait up to a minute here.
    await until(() => server.attempts() === 2 && client.state === 'open', 'the quick reconnect');
    expect(closes).toEqual([1012]);
  });

  it('does not reconnect after a 1008 policy close', async () => {
    const server = await startLocalServer();
    cleanups.push(server.close);
    const { client, errors } = analytics(server.url);
    await until(() => client.state === 'open', 'open');
    server.connections[0]?.socket.close(1008, 'rate limit exceeded');
    await until(() => client.state === 'closed', 'closed');
    expect(errors[0]).toBeInstanceOf(AuthError);
    expect(errors[0]?.message).toContain('rate limit exceeded');
    await new Promise((r) => setTimeout(r, 300)); // many backoff periods: no second attempt
    expect(server.attempts()).toBe(1);
  });

  it('stops on a 401 at the upgrade unless getToken() yields a different token', async () => {
    const server = await startLocalServer({ refuse: (req) => (req.url?.includes('token=good') ? undefined : 401) });
    cleanups.push(server.close);

    const refused = analytics(server.url, { token: 'bad' });
    await until(() => refused.client.state === 'closed' && refused.errors.length > 0, 'the refusal');
    expect(refused.errors[0]).toBeInstanceOf(AuthError);

    const tokens = ['expired', 'good'];
    const calls: string[] = [];
    const refreshed = analytics(server.url, { getToken: () => { const t = tokens.shift() ?? 'good'; calls.push(t); return t; } });
    await until(() => refreshed.client.state === 'open', 'open with the fresh token');
    expect(calls).toEqual(['expired', 'good']);
    expect(server.connections.at(-1)?.request.url).toContain('token=good');

    const stubborn = analytics(server.url, { getToken: () => 'bad' });
    await until(() => stubborn.client.state === 'closed' && stubborn.errors.length === 2, 'giving up');
    expect(stubborn.errors.map((e) => e.message)).toEqual([
      'Authentication failed (HTTP 401/403 at the upgrade)',
      'the server refused the token and getToken() returned the same one: not reconnecting',
    ]);
  });

  it('close() during the backoff wait cancels the pending attempt and leaves no timers', async () => {
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const server = await startLocalServer();
    const { client } = analytics(server.url, { reconnect: { ...fast, initialDelayMs: 500, maxDelayMs: 500 } });
    await until(() => client.state === 'open', 'open');
    await server.close();
    await until(() => client.state === 'reconnecting', 'reconnecting');
    client.close();
    expect(client.state).toBe('closed');
    expect(process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length).toBeLessThanOrEqual(timersBefore);
  });
});

describe('gap detection', () => {
  it('emits a gap when offsets jump, and starts over after a reconnect', async () => {
    let round = 0;
    const server = await startLocalServer({
      onConnection: ({ socket }) => {
        round += 1;
        const offsets = round === 1 ? [1, 2, 5] : [900, 901];
        for (const offset of offsets) socket.send(JSON.stringify({ type: 'heartbeat', data: stats(offset), offset }));
      },
    });
    cleanups.push(server.close);
    const { client } = analytics(server.url);
    const gaps: Gap[] = [];
    const beats: number[] = [];
    client.on('gap', (gap) => gaps.push(gap));
    client.on('heartbeat', (s) => beats.push(s.current_visitors));
    await until(() => beats.length === 3, 'three heartbeats');
    expect(gaps).toEqual([{ channel: 'analytics', expected: 3, got: 5, reason: 'offset_jump' }]);
    server.connections[0]?.socket.terminate();
    await until(() => beats.length === 5, 'heartbeats after the reconnect');
    expect(gaps).toHaveLength(1);
  });
});
