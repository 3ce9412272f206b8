import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { IoClient } from '../support/socketio-client.js';
import { TestClient, opened, type Frame } from '../support/ws-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { PRODUCER_KEY } from './helpers.js';

/**
 * Presence for clients that ask (docs/presence.md#for-clients), with two real gateways on a real
 * redis-server: a snapshot on request, diffs across gateways within a second, at most four
 * presence frames per second per channel under churn, no diff for a reconnect within the grace
 * period, and nothing at all for a client that never asked.
 */
const GRACE_S = 2;
let cluster: TwoGatewayCluster;
const clients: TestClient[] = [];
const ioClients: IoClient[] = [];

interface Member {
  clientId: string;
  userId: string | null;
  info: Record<string, unknown>;
}
const ids = (members: unknown): string[] => (members as Member[]).map((m) => m.clientId);

async function connect(url: string, clientId?: string): Promise<TestClient> {
  const client = await TestClient.connect(clientId === undefined ? url : `${url}?clientId=${clientId}`);
  clients.push(client);
  return client;
}

/** A subscriber to a raw endpoint's presence diffs; its snapshot answer proves the subscription is in place. */
async function subscriber(url: string): Promise<TestClient> {
  const client = await connect(url);
  client.send({ type: 'presence_subscribe' });
  client.send({ type: 'presence' });
  await client.next((f) => f.type === 'presence', { what: 'presence snapshot' });
  return client;
}

const diffs = (client: TestClient): { frame: Frame; at: number }[] => client.frames.filter((f) => f.frame.type === 'presence_diff');

beforeAll(async () => {
  cluster = await startTwoGatewayCluster((redisEnv) => ({
    ...redisEnv,
    INGEST_API_KEYS: PRODUCER_KEY,
    PRESENCE_GRACE_S: String(GRACE_S),
    UPGRADE_RATE_PER_ADDRESS: '10000',
    LOG_LEVEL: 'warn',
  }));
});

afterEach(() => {
  for (const client of clients.splice(0)) client.ws.terminate();
  for (const client of ioClients.splice(0)) client.close();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('presence for raw clients', () => {
  it('answers a snapshot, and a join on gateway A reaches a subscriber on gateway B in under a second', async () => {
    const { gatewayA, gatewayB } = cluster;
    const watcher = await subscriber(gatewayB.wsUrl('/ws/analytics'));
    const opening = Date.now();
    await connect(gatewayA.wsUrl('/ws/analytics'), 'joiner-0001');
    const diff = await watcher.next((f) => f.type === 'presence_diff' && ids(f['joined']).includes('joiner-0001'), { what: 'join diff' });
    const seen = diffs(watcher).find((d) => d.frame === diff);
    expect(seen!.at - opening).toBeLessThan(1000);
    expect(diff['channel']).toBe('analytics');
    const occupancy = diff['occupancy'] as { connections: number; users: number };
    expect(occupancy.connections).toBeGreaterThanOrEqual(1);
    expect(occupancy.users).toBeGreaterThanOrEqual(1);

    const asker = await connect(gatewayB.wsUrl('/ws/analytics'));
    asker.send({ type: 'presence' });
    const snapshot = await asker.next((f) => f.type === 'presence');
    expect(snapshot['channel']).toBe('analytics');
    expect(ids(snapshot['members'])).toContain('joiner-0001');
    // The watcher and the joiner at least (the asker's own join may still be in its 50 ms batch).
    expect((snapshot['occupancy'] as { connections: number }).connections).toBeGreaterThanOrEqual(2);
    expect(snapshot['truncated']).toBeUndefined();
    // The asker did not subscribe: no diff reaches it.
    await connect(gatewayA.wsUrl('/ws/analytics'), 'joiner-0002');
    await watcher.next((f) => f.type === 'presence_diff' && ids(f['joined']).includes('joiner-0002'), { what: 'second join' });
    expect(asker.of('presence_diff')).toEqual([]);

    watcher.send({ type: 'presence_unsubscribe' });
    watcher.send({ type: 'ping' });
    await watcher.next((f) => f.type === 'pong');
    const before = diffs(watcher).length;
    const subscribed = await subscriber(gatewayA.wsUrl('/ws/analytics'));
    await connect(gatewayA.wsUrl('/ws/analytics'), 'joiner-0003');
    await subscribed.next((f) => f.type === 'presence_diff' && ids(f['joined']).includes('joiner-0003'), { what: 'third join' });
    await sleep(500);
    expect(diffs(watcher).length).toBe(before);
  });

  it('under 100 joins/s of churn a subscriber gets at most 4 presence frames/s, and an original client none', async () => {
    const { gatewayA, gatewayB } = cluster;
    const url = gatewayA.wsUrl('/ws/availability');
    const watcher = await subscriber(gatewayB.wsUrl('/ws/availability'));
    const original = await connect(gatewayB.wsUrl('/ws/availability'));
    const start = Date.now();
    const churned: Promise<void>[] = [];
    for (let tick = 0; tick < 50; tick++) {
      // 10 connections every 100 ms for 5 s, each closed after about 150 ms.
      for (let i = 0; i < 10; i++) {
        churned.push(
          (async () => {
            const ws = new WebSocket(`${url}?clientId=churn-${tick}-${i}-x`);
            await opened(ws);
            await sleep(150);
            ws.terminate();
          })(),
        );
      }
      await sleep(Math.max(0, start + (tick + 1) * 100 - Date.now()));
    }
    await Promise.all(churned);
    // Every leave (after the grace period) has come through.
    await waitFor(() => diffs(watcher).some((d) => ids(d.frame['left']).includes('churn-49-9-x')), { what: 'last leave', timeoutMs: 20_000 });
    const end = Date.now();
    const frames = diffs(watcher).filter((d) => d.at >= start);
    const seconds = (end - start) / 1000;
    expect(frames.length).toBeGreaterThan(0);
    expect(frames.length).toBeLessThanOrEqual(Math.ceil(seconds * 4) + 1);
    // Net changes: every churned client joined once and left once, whatever the windows.
    const churn = (key: string) => frames.flatMap((d) => ids(d.frame[key])).filter((id) => id.startsWith('churn-'));
    expect(new Set(churn('joined')).size).toBe(churn('joined').length);
    expect(new Set(churn('left')).size).toBe(churn('left').length);
    expect(churn('left').length).toBeLessThanOrEqual(500);
    expect(original.frames.filter((f) => f.frame.type.startsWith('presence'))).toEqual([]);
  });

  it('a client reconnecting within the grace period produces no diff', async () => {
    const { gatewayA, gatewayB } = cluster;
    const watcher = await subscriber(gatewayB.wsUrl('/ws/analytics'));
    const first = await connect(gatewayA.wsUrl('/ws/analytics'), 'returning-01');
    await watcher.next((f) => f.type === 'presence_diff' && ids(f['joined']).includes('returning-01'), { what: 'join' });
    const from = watcher.frames.length;
    first.ws.terminate();
    await sleep(200);
    await connect(gatewayA.wsUrl('/ws/analytics'), 'returning-01');
    // A sentinel joining after the grace period has run out: every diff before it is in.
    await sleep(GRACE_S * 1000 + 1000);
    await connect(gatewayA.wsUrl('/ws/analytics'), 'sentinel-01');
    await watcher.next((f) => f.type === 'presence_diff' && ids(f['joined']).includes('sentinel-01'), { from, what: 'sentinel join' });
    const mentions = watcher.frames
      .slice(from)
      .filter((f) => f.frame.type === 'presence_diff')
      .flatMap((f) => [...ids(f.frame['joined']), ...ids(f.frame['left'])]);
    expect(mentions).not.toContain('returning-01');
  });
});

describe('presence for Socket.IO clients', () => {
  it('answers presence:get in the ack and sends presence:diff after presence:subscribe', async () => {
    const { gatewayA, gatewayB } = cluster;
    const watcher = await IoClient.connect(gatewayB.url, { transports: ['websocket'] });
    ioClients.push(watcher);
    expect(await watcher.ack('presence:subscribe', 'errors')).toEqual({ ok: true });
    const other = await IoClient.connect(gatewayA.url, { transports: ['websocket'] });
    ioClients.push(other);
    const otherId = other.socket.id!;
    const diff = await watcher.next<{ channel: string; joined: Member[] }>('presence:diff', (d) => ids(d.joined).includes(otherId));
    expect(diff.channel).toBe('errors');
    const snapshot = (await watcher.ack('presence:get', 'errors')) as { type: string; members: Member[]; occupancy: { connections: number } };
    expect(snapshot.type).toBe('presence');
    expect(ids(snapshot.members)).toEqual(expect.arrayContaining([otherId, watcher.socket.id!]));
    expect(await watcher.ack('presence:get', 'analytics')).toMatchObject({ ok: false });
    // A client that never asked gets no presence event.
    expect(other.received.filter((r) => r.event.startsWith('presence'))).toEqual([]);
  });
});
