/**
 * The churn clients' bookkeeping against a real WebSocket server in this process: delivery per
 * client by sequence number, duplicates, resume parameters on a reconnect to the next target,
 * `resumed` frames counted, and reconnect latency after a server close.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { decodeFromCompressedBase64 } from 'hdr-histogram-js';
import { ChurnGroup } from '../src/load/churn.js';
import { preciseNow } from '../src/load/protocol.js';

const frame = (seq: number, offset: number) =>
  JSON.stringify({ type: 'page_view', id: 'x', visitor_id: 'v', timestamp: 'now', data: { t: preciseNow(), seq, pad: '' }, offset });

/** A server speaking enough of the resume protocol: first frame with epoch/offset, `resumed` on `?epoch&since`. */
async function server(): Promise<{ url: string; sockets: WebSocket[]; upgrades: string[]; close(): Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss.once('listening', r));
  const sockets: WebSocket[] = [];
  const upgrades: string[] = [];
  wss.on('connection', (ws, req) => {
    sockets.push(ws);
    upgrades.push(req.url ?? '');
    ws.send(JSON.stringify({ type: 'initial_stats', data: {}, epoch: 'e1', offset: 2 }));
    const since = new URL(req.url ?? '/', 'http://x').searchParams.get('since');
    if (since !== null) ws.send(JSON.stringify({ type: 'resumed', recovered: true, epoch: 'e1', count: 1 }));
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
    sockets,
    upgrades,
    close: () =>
      new Promise((r) => {
        for (const ws of wss.clients) ws.terminate();
        wss.close(() => r());
      }),
  };
}

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const bits = (...seqs: number[]) => {
  const out = new Uint8Array(4);
  for (const s of seqs) out[s >> 3]! |= 1 << (s & 7);
  return out;
};

describe('churn clients', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('count each accepted message once per client, duplicates apart, and resume on the next target after a server close', async () => {
    const [a, b] = [await server(), await server()];
    cleanup.push(a.close, b.close);
    const group = new ChurnGroup({ kind: 'ws', urls: [a.url, b.url], count: 1, concurrency: 1, resume: true, everyMs: 0, downMs: 0 });
    cleanup.push(() => group.close());
    expect(await group.connect()).toEqual({ ok: 1, failed: 0, errors: [] });
    group.start(preciseNow() - 1000);
    await until(() => a.sockets.length === 1, 'first connection');
    // Messages 0 and 1, then 1 again (a duplicate); 3 is accepted but never sent (lost).
    for (const [seq, offset] of [[0, 3], [1, 4], [1, 4]] as const) a.sockets[0]!.send(frame(seq, offset));
    await until(() => group.status().receipts === 3, 'three receipts');
    a.sockets[0]!.close(1012, 'restart');
    await until(() => b.sockets.length === 1, 'reconnect to the other target');
    expect(b.upgrades[0]).toBe('/ws?epoch=e1&since=4');
    b.sockets[0]!.send(frame(2, 5));
    await until(() => group.status().receipts === 4, 'the replayed message');

    const report = group.report(bits(0, 1, 2, 3));
    expect(report).toMatchObject({
      clients: 1, open: 1, expected_per_client: 4, delivered: 3, duplicates: 1, complete_clients: 0, worst_missing: 1,
      server_closes: 1, reconnects: 1, recovered: 1, not_recovered: 0, drops: 0,
    });
    expect(decodeFromCompressedBase64(report.reconnect).totalCount).toBe(1);
  });

  it('a message the system did not accept is neither expected nor delivered; a client that never connected is left out', async () => {
    const a = await server();
    cleanup.push(a.close);
    const group = new ChurnGroup({ kind: 'ws', urls: [a.url, 'ws://127.0.0.1:1/ws'], count: 2, concurrency: 2, resume: false, everyMs: 0, downMs: 0 });
    cleanup.push(() => group.close());
    const connected = await group.connect();
    expect(connected.ok).toBe(1);
    expect(connected.failed).toBe(1);
    group.start(preciseNow() - 1000);
    await until(() => a.sockets.length === 1, 'connection');
    a.sockets[0]!.send(frame(0, 1));
    a.sockets[0]!.send(frame(5, 2));
    await until(() => group.status().receipts === 2, 'two receipts');
    expect(group.report(bits(0))).toMatchObject({ clients: 1, expected_per_client: 1, delivered: 1, duplicates: 0, complete_clients: 1 });
  });

  it('messages sent before counting began, or before `since`, are ignored', async () => {
    const a = await server();
    cleanup.push(a.close);
    const group = new ChurnGroup({ kind: 'ws', urls: [a.url], count: 1, concurrency: 1, resume: false, everyMs: 0, downMs: 0 });
    cleanup.push(() => group.close());
    await group.connect();
    await until(() => a.sockets.length === 1, 'connection');
    a.sockets[0]!.send(frame(0, 1));
    await new Promise((r) => setTimeout(r, 100));
    group.start(preciseNow() + 60_000);
    a.sockets[0]!.send(frame(1, 2));
    await new Promise((r) => setTimeout(r, 100));
    expect(group.status().receipts).toBe(0);
    group.start(preciseNow() - 60_000);
    a.sockets[0]!.send(frame(2, 3));
    await until(() => group.status().receipts === 1, 'a message sent after since');
  });

  it('a dropping client cuts its connection, stays away, and comes back with its position', async () => {
    const [a, b] = [await server(), await server()];
    cleanup.push(a.close, b.close);
    const group = new ChurnGroup({ kind: 'ws', urls: [a.url, b.url], count: 1, concurrency: 1, resume: true, everyMs: 200, downMs: 300 });
    cleanup.push(() => group.close());
    await group.connect();
    await until(() => a.sockets.length === 1, 'connection');
    // Before counting starts: not a receipt, but the client's position (offset 7). The pong
    // answers the ping only once the client has read the frame before it.
    a.sockets[0]!.send(frame(0, 7));
    const pong = new Promise((r) => a.sockets[0]!.once('pong', r));
    a.sockets[0]!.ping();
    await pong;
    const t0 = Date.now();
    group.start(preciseNow() - 1000);
    await until(() => b.sockets.length === 1, 'reconnect after a drop');
    group.quiet();
    // Away for downMs, then back on the next target with its epoch and offset.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(b.upgrades[0]).toBe('/ws?epoch=e1&since=7');
    await until(() => group.status().open === 1, 'open again');
    expect(group.report(bits(0))).toMatchObject({ drops: 1, reconnects: 1, server_closes: 0, recovered: 1 });
  });
});
