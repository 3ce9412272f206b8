import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INGEST_PARTITIONS, clusterTopology } from '@switchboard/engine';
import { logsChannel } from '@switchboard/protocol';
import { NodeProcess } from '../support/node-process.js';
import { nodeClient } from '../support/redis-cluster.js';
import { startTestRedis, type TestRedis } from '../support/test-redis.js';
import { TestClient } from '../support/ws-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';
import { appClient, history, liveEntries } from './logs-helpers.js';

/**
 * What only a Redis Cluster has: channels spread over its shards, and a master killed with
 * `kill -9` while events flow. Two gateways and two workers on 3 masters + 3 replicas; every
 * event a gateway accepted (202) must reach every client of its app once, in order, and stay in
 * history, with no process restarted. (The product suites run on the cluster too:
 * *-redis-cluster.test.ts.)
 */
const topology = clusterTopology(DEFAULT_INGEST_PARTITIONS);
const APPS = Array.from({ length: 24 }, (_, i) => `fo-app-${i}`);
let redis: TestRedis;
let gateways: NodeProcess[] = [];
let workers: NodeProcess[] = [];
const clients: TestClient[] = [];

beforeAll(async () => {
  redis = await startTestRedis('cluster');
  const env = { ...redis.env, INGEST_API_KEYS: PRODUCER_KEY, LOG_LEVEL: 'warn', INGEST_CLAIM_IDLE_MS: '3000' };
  gateways = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('gateway', env)]);
  workers = await Promise.all([NodeProcess.start('worker', env), NodeProcess.start('worker', env)]);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all([...gateways, ...workers].map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

/** The master serving an app's channel, and the shard channels each master serves now. */
const masterOfApp = (appId: string) => redis.cluster!.masterOfKey(topology.channel(logsChannel(appId)).pubsub);
async function shardChannels(): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const { port } of await redis.cluster!.masters()) {
    const node = nodeClient(port);
    try {
      out.set(port, (await node.call('PUBSUB', 'SHARDCHANNELS')) as string[]);
    } finally {
      node.disconnect();
    }
  }
  return out;
}

/** One `/ws/logs` client per app, alternating gateways, opened once for the tests that need them. */
let appClientsOpened: Promise<TestClient[]> | undefined;
const appClients = (): Promise<TestClient[]> =>
  (appClientsOpened ??= Promise.all(APPS.map((appId, i) => appClient(gateways[i % 2]!, appId))).then((opened) => {
    clients.push(...opened);
    return opened;
  }));

const postLog = (gateway: NodeProcess, appId: string, message: string) =>
  post(gateway.url, '/logs', { appId, level: 'info', message }, { authorization: `Bearer ${PRODUCER_KEY}` });

describe('on a Redis Cluster (3 masters + 3 replicas), two gateways, two workers', () => {
  it('delivers availability alerts to clients on both gateways', async () => {
    const [onA, onB] = await Promise.all(gateways.map((g) => TestClient.connect(g.wsUrl('/ws/availability'))));
    clients.push(onA!, onB!);
    for (const c of [onA!, onB!]) await c.next((f) => f.type === 'connection');
    const alert = { tourId: 'tour-rc', tourTitle: 'Randonnée', availableSeats: 2, maxGroupSize: 10, threshold: 3 };
    const res = await post(gateways[1]!.url, '/availability', alert, { authorization: `Bearer ${PRODUCER_KEY}` });
    expect(res.status).toBe(202);
    for (const c of [onA!, onB!]) {
      const frame = await c.next((f) => f.type === 'tour.availability.low', { what: 'the alert' });
      expect(frame).toMatchObject({ id: res.json['id'], data: alert });
    }
  });

  it('spreads per-app channels over the shards: each gateway subscribes on several masters, only to channels it has clients for', async () => {
    const watchers = await appClients();
    const serving = new Set(await Promise.all(APPS.map(masterOfApp)));
    expect(serving.size, 'masters serving the apps').toBeGreaterThanOrEqual(2);
    await waitFor(
      async () => {
        const channels = await shardChannels();
        // Every app's channel is subscribed on the master that serves it, and only there.
        return (await Promise.all(APPS.map(async (a) => (channels.get(await masterOfApp(a)) ?? []).includes(topology.channel(logsChannel(a)).pubsub)))).every(Boolean);
      },
      { what: 'every app channel subscribed on its master' },
    );
    const channels = await shardChannels();
    expect([...channels.values()].filter((list) => list.some((c) => c.includes('ch:logs:app:fo-app-'))).length).toBeGreaterThanOrEqual(2);
    // An app nobody watches has no subscription anywhere.
    expect([...channels.values()].flat().some((c) => c.includes('ch:logs:app:nobody-watches'))).toBe(false);
    for (const [i, appId] of APPS.entries()) expect((await postLog(gateways[(i + 1) % 2]!, appId, `spread-${appId}`)).status).toBe(202);
    const delivered = (i: number) => liveEntries(watchers[i]!).some((e) => e.message === `spread-${APPS[i]}`);
    await waitFor(() => APPS.every((_, i) => delivered(i)), { what: 'every app its entry' }).catch(async (err: unknown) => {
      const missing = await Promise.all(APPS.filter((_, i) => !delivered(i)).map(async (a) => `${a} (partition ${topology.partitionOf(logsChannel(a))}, master ${await masterOfApp(a)})`));
      throw new Error(`${err instanceof Error ? err.message : String(err)}: missing ${missing.join(', ')}`);
    });
  });

  it('loses nothing accepted when a master is killed with kill -9 during traffic; no process restarts', async () => {
    const watchers = await appClients();
    const pids = [...gateways, ...workers].map((n) => n.child.pid);
    const victimApp = APPS[0]!;
    const victim = await masterOfApp(victimApp);
    const accepted = new Map<string, string[]>(APPS.map((a) => [a, []]));
    let refused = 0;
    let sending = true;
    const producer = (async () => {
      for (let n = 0; sending; n++) {
        const appId = APPS[n % APPS.length]!;
        const message = `fo-${n}`;
        const res = await postLog(gateways[n % 2]!, appId, message).catch(() => ({ status: 0, json: {} }));
        if (res.status === 202) accepted.get(appId)!.push(message);
        else refused++;
        await sleep(5);
      }
    })();
    await sleep(1_000);
    const promoted = await redis.cluster!.killMaster(victim);
    expect(promoted).not.toBe(victim);
    await sleep(2_000);
    sending = false;
    await producer;
    const total = [...accepted.values()].reduce((n, list) => n + list.length, 0);
    expect(total).toBeGreaterThan(50);

    // Every accepted entry, once and in order, live on every client of its app...
    for (const [i, appId] of APPS.entries()) {
      const want = accepted.get(appId)!;
      const got = () => liveEntries(watchers[i]!).map((e) => e.message).filter((m) => m.startsWith('fo-'));
      await waitFor(() => got().length >= want.length, { what: `${appId}: ${want.length} live entries`, timeoutMs: 60_000 });
      expect(got(), appId).toEqual(want);
    }
    // ...and in the history both gateways serve.
    for (const appId of [victimApp, APPS[1]!]) {
      for (const g of gateways) {
        const reader = await appClient(g, appId);
        clients.push(reader);
        expect((await history(reader)).map((e) => e.message).filter((m) => m.startsWith('fo-')), `${appId} history`).toEqual(accepted.get(appId));
      }
    }
    // The same processes, still serving: ready again and delivering new events.
    expect([...gateways, ...workers].map((n) => n.child.pid)).toEqual(pids);
    for (const n of [...gateways, ...workers]) expect(n.child.exitCode, n.nodeId).toBeNull();
    await Promise.all([...gateways, ...workers].map((n) => n.waitReady(60_000)));
    expect((await postLog(gateways[0]!, victimApp, 'after-failover')).status).toBe(202);
    await waitFor(() => liveEntries(watchers[0]!).some((e) => e.message === 'after-failover'), { what: 'a new entry after the failover' });
    console.info(`failover: ${total} entries accepted, ${refused} requests refused while the shard failed over`);
  });
});
