import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AnalyticsClient } from '../src/analytics/client.js';
import type { Gap, ResumeOutcome } from '../src/core/resume.js';
import { LogsClient } from '../src/logs/client.js';
import { messageText, startLocalServer, stats, until, type Connection } from './local-server.js';

/**
 * `acrossEpochs`: after Redis lost a channel (a new epoch), a client that asked for it takes the
 * new epoch's frames in full (`recovered:true, epochChanged:true`) and continues in that epoch;
 * one that did not ask treats such an answer as a malformed one.
 */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const fast = { initialDelayMs: 20, maxDelayMs: 100, restartJitterMs: 20, stableAfterMs: 60_000 };
const send = (connection: Connection | undefined, frame: Record<string, unknown>) => connection?.socket.send(JSON.stringify(frame));
const pageView = (offset: number) => ({ type: 'page_view', id: `id-${offset}`, visitor_id: `v${offset}`, timestamp: '2026-01-01T00:00:00.000Z', data: {}, offset });
const query = (connection: Connection | undefined) => new URL(connection?.request.url ?? '/', 'http://x').searchParams;

async function scripted(script: (connection: Connection, n: number) => void) {
  let n = 0;
  const server = await startLocalServer({ onConnection: (connection) => script(connection, ++n) });
  cleanups.push(server.close);
  return server;
}

/** First connection in e1 up to offset 12; the second answers in e2 with frames 1..3 replayed, then 4 live. */
const epochChange = (c: Connection, n: number) => {
  if (n === 1) {
    send(c, { type: 'initial_stats', data: stats(1), epoch: 'e1', offset: 10 });
    for (const offset of [11, 12]) send(c, pageView(offset));
    return;
  }
  send(c, { type: 'initial_stats', data: stats(3), epoch: 'e2', offset: 3 });
  send(c, { type: 'resumed', recovered: true, epoch: 'e2', count: 3, offset: 3, epochChanged: true });
  for (const offset of [1, 2, 3]) send(c, pageView(offset));
  send(c, pageView(3));
  send(c, pageView(4));
};

function analytics(url: string, acrossEpochs: boolean) {
  const client = new AnalyticsClient({ url, WebSocket, reconnect: fast, acrossEpochs });
  const seen = { offsets: [] as (number | undefined)[], resumed: [] as ResumeOutcome[], gaps: [] as Gap[], errors: [] as Error[] };
  client.on('event', (e) => seen.offsets.push(e.offset));
  client.on('resumed', (r) => seen.resumed.push(r));
  client.on('gap', (g) => seen.gaps.push(g));
  client.on('error', (e) => seen.errors.push(e));
  cleanups.push(() => client.close());
  return { client, seen };
}

describe('resume across an epoch change (acrossEpochs)', () => {
  it('asks with acrossEpochs=1, takes the new epoch in full and continues in it', async () => {
    const server = await scripted(epochChange);
    const { client, seen } = analytics(server.url, true);
    await until(() => seen.offsets.length === 2, 'the first two events');
    server.connections[0]?.socket.close(1012, 'service restart');
    await until(() => seen.offsets.includes(4), 'the live event after the replay');
    expect(query(server.connections[1]).get('epoch')).toBe('e1');
    expect(query(server.connections[1]).get('since')).toBe('12');
    expect(query(server.connections[1]).get('acrossEpochs')).toBe('1');
    expect(seen.offsets).toEqual([11, 12, 1, 2, 3, 4]);
    expect(seen.resumed).toEqual([{ recovered: true, epoch: 'e2', count: 3, epochChanged: true }]);
    expect(seen.gaps).toEqual([]);
    expect(seen.errors).toEqual([]);
    expect(client.position).toEqual({ epoch: 'e2', offset: 4 });
    // The first frame's figures come from the new epoch.
    expect(client.stats?.current_visitors).toBe(3);
  });

  it('without acrossEpochs, does not ask for it and refuses a recovery in another epoch', async () => {
    const server = await scripted(epochChange);
    const { seen } = analytics(server.url, false);
    await until(() => seen.offsets.length === 2, 'the first two events');
    server.connections[0]?.socket.close(1012, 'service restart');
    await until(() => seen.resumed.length === 1, 'the resume answer');
    expect(query(server.connections[1]).has('acrossEpochs')).toBe(false);
    expect(seen.resumed[0]).toMatchObject({ recovered: false, epoch: 'e2' });
    expect(seen.errors.some((e) => e.message.includes('recovered in epoch'))).toBe(true);
  });

  it('logs: sends acrossEpochs in the auth data', async () => {
    const auths: Record<string, unknown>[] = [];
    const server = await scripted((c, n) => {
      c.socket.on('message', (data) => {
        const frame = JSON.parse(messageText(data)) as { type: string; data: Record<string, unknown> };
        if (frame.type !== 'auth') return;
        auths.push(frame.data);
        send(c, { type: 'auth_success', payload: { appId: 'shop', userId: 'u1' }, epoch: n === 1 ? 'e1' : 'e2', offset: n === 1 ? 2 : 0 });
        if (n > 1) send(c, { type: 'resumed', recovered: true, epoch: 'e2', count: 0, offset: 0, epochChanged: true });
      });
    });
    const client = new LogsClient({ url: server.url, WebSocket, reconnect: fast, userId: 'u1', appId: 'shop', acrossEpochs: true });
    const resumed: ResumeOutcome[] = [];
    client.on('resumed', (r) => resumed.push(r));
    cleanups.push(() => client.close());
    await until(() => auths.length === 1, 'the first auth');
    server.connections[0]?.socket.close(1012, 'service restart');
    await until(() => resumed.length === 1, 'the resume answer');
    expect(auths[1]).toEqual({ userId: 'u1', appId: 'shop', epoch: 'e1', since: 2, acrossEpochs: true });
    expect(resumed).toEqual([{ recovered: true, epoch: 'e2', count: 0, epochChanged: true }]);
    expect(client.position).toEqual({ epoch: 'e2', offset: 0 });
  });
});
