import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { CHANNELS, logsChannel } from '@switchboard/protocol';
import { MemoryEngine, RedisEngine, type Engine, type PresenceEntry } from '../src/index.js';
import { presenceKeys } from '../src/redis/presence.js';
import { clusterTopology, keySlot } from '../src/redis/topology.js';
import { RedisServer } from '../../../test/support/redis-server.js';
import { clusterClient, nodeClient, startRedisCluster, type LocalRedisCluster } from '../../../test/support/redis-cluster.js';
import { waitFor } from '../../../test/support/wait.js';

/** Presence: one contract, in memory, on one Redis and on a Redis Cluster (3 masters + 3 replicas). */
const logger = pino({ level: 'silent' });
let redis: RedisServer;
let cluster: LocalRedisCluster;

beforeAll(async () => {
  [redis, cluster] = await Promise.all([RedisServer.start(), startRedisCluster()]);
}, 240_000);
afterAll(async () => {
  await Promise.all([redis?.stop(), cluster?.stop()]);
});

const clusterNodes = () => cluster.runningPorts().map((port) => ({ host: '127.0.0.1', port }));

const engines: [string, () => Promise<Engine>, () => Engine][] = [
  ['memory', () => Promise.resolve(new MemoryEngine()), () => new MemoryEngine()],
  [
    'redis',
    async () => {
      const admin = redis.client();
      await admin.flushall();
      admin.disconnect();
      return new RedisEngine({ url: redis.url, logger });
    },
    () => new RedisEngine({ url: redis.url, logger }),
  ],
  [
    'cluster',
    async () => {
      for (const master of await cluster.masters()) {
        const client = nodeClient(master.port);
        await client.flushall();
        client.disconnect();
      }
      return new RedisEngine({ cluster: { nodes: clusterNodes() }, logger });
    },
    () => new RedisEngine({ cluster: { nodes: clusterNodes() }, logger }),
  ],
];

const entry = (channel: string, clientId: string, userId: string | null, info: Record<string, unknown> = {}): PresenceEntry => ({
  channel,
  member: { clientId, userId, info },
});

describe.each(engines)('%s engine presence', (name, make, another) => {
  let engine: Engine;
  const extra: Engine[] = [];
  beforeEach(async () => {
    engine = await make();
    await engine.connect();
  });
  afterEach(async () => {
    await Promise.all([engine, ...extra.splice(0)].map((e) => e.close()));
  });

  /** A second engine on the same store (another gateway); the memory engine has no other. */
  async function secondGateway(): Promise<Engine> {
    if (name === 'memory') return engine;
    const second = another();
    extra.push(second);
    await second.connect();
    return second;
  }

  it('counts connections, and users once whatever their connections (anonymous ones each)', async () => {
    const analytics = CHANNELS.analytics;
    await engine.presence.refresh(
      [
        entry(analytics, 'c1', 'alice', { name: 'Alice' }),
        entry(analytics, 'c2', 'alice'),
        entry(analytics, 'c3', 'bob'),
        entry(analytics, 'c4', null),
        entry(analytics, 'c5', null),
        entry(logsChannel('shop'), 'c1', 'alice'),
      ],
      30,
      'gw-1',
    );
    expect(await engine.presence.occupancy([analytics, logsChannel('shop'), logsChannel('none')])).toEqual([
      { connections: 5, users: 4 },
      { connections: 1, users: 1 },
      { connections: 0, users: 0 },
    ]);
    // A refresh of members already there changes nothing.
    await engine.presence.refresh([entry(analytics, 'c1', 'alice', { name: 'Alice' }), entry(analytics, 'c2', 'alice')], 30, 'gw-1');
    expect(await engine.presence.occupancy([analytics])).toEqual([{ connections: 5, users: 4 }]);

    await engine.presence.leave([{ channel: analytics, clientId: 'c1' }, { channel: analytics, clientId: 'c4' }, { channel: analytics, clientId: 'nobody' }]);
    expect(await engine.presence.occupancy([analytics])).toEqual([{ connections: 3, users: 3 }]);
    await engine.presence.leave([{ channel: analytics, clientId: 'c2' }]);
    expect(await engine.presence.occupancy([analytics])).toEqual([{ connections: 2, users: 2 }]);
  });

  it('lists members with their user and info, paged by clientId', async () => {
    const channel = logsChannel('paged');
    const entries = Array.from({ length: 25 }, (_, n) => entry(channel, `client-${String(n).padStart(2, '0')}`, n % 2 === 0 ? `user-${n % 5}` : null, { n }));
    await engine.presence.refresh(entries, 30, 'gw-1');
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 10; page += 1) {
      const result = await engine.presence.members(channel, 10, cursor);
      seen.push(...result.members.map((m) => m.clientId));
      if (result.next === null) break;
      cursor = result.next;
    }
    expect(seen).toEqual(entries.map((e) => e.member.clientId));
    const first = await engine.presence.members(channel, 2);
    expect({ members: first.members, count: first.count, next: first.next }).toEqual({
      members: [
        { clientId: 'client-00', userId: 'user-0', info: { n: 0 } },
        { clientId: 'client-01', userId: null, info: { n: 1 } },
      ],
      count: 2,
      next: 'client-01',
    });
    // The stored JSON as is, clientId first (what the server API writes through).
    expect(first.list.text).toBe('[{"clientId":"client-00","userId":"user-0","info":{"n":0}},{"clientId":"client-01","userId":null,"info":{"n":1}}]');
    expect(JSON.stringify({ members: first.list })).toBe(`{"members":${first.list.text}}`);
    const empty = await engine.presence.members(logsChannel('empty'), 10);
    expect({ text: empty.list.text, members: empty.members, count: empty.count, next: empty.next }).toEqual({ text: '[]', members: [], count: 0, next: null });
    const last = await engine.presence.members(channel, 10, 'client-19');
    expect({ ids: last.members.map((m) => m.clientId), next: last.next }).toEqual({ ids: ['client-20', 'client-21', 'client-22', 'client-23', 'client-24'], next: null });
  });

  it('keeps clientId order through joins, leaves and changes (a cursor between ids, a prefix of another)', async () => {
    const channel = logsChannel('churn');
    await engine.presence.refresh(['m', 'c', 'x', 'ca', 'a'].map((id) => entry(channel, id, 'u', { v: 1 })), 30, 'gw-1');
    expect((await engine.presence.members(channel, 10)).members.map((m) => m.clientId)).toEqual(['a', 'c', 'ca', 'm', 'x']);
    await engine.presence.leave([{ channel, clientId: 'c' }]);
    await engine.presence.refresh([entry(channel, 'b', 'u'), entry(channel, 'c', 'u', { v: 2 }), entry(channel, 'm', 'v\tw', { v: 3 })], 30, 'gw-1');
    const page = await engine.presence.members(channel, 10);
    expect(page.members).toEqual([
      { clientId: 'a', userId: 'u', info: { v: 1 } },
      { clientId: 'b', userId: 'u', info: {} },
      { clientId: 'c', userId: 'u', info: { v: 2 } },
      { clientId: 'ca', userId: 'u', info: { v: 1 } },
      { clientId: 'm', userId: 'v\tw', info: { v: 3 } },
      { clientId: 'x', userId: 'u', info: { v: 1 } },
    ]);
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 6, users: 2 }]);
    // After `c`, before `ca`; a cursor that is no member's id pages from where it would be.
    expect((await engine.presence.members(channel, 2, 'c')).members.map((m) => m.clientId)).toEqual(['ca', 'm']);
    expect((await engine.presence.members(channel, 2, 'bz')).members.map((m) => m.clientId)).toEqual(['c', 'ca']);
    // A user id holding a tab still leaves its user count right, and its owner recognised.
    await engine.presence.leave([{ channel, clientId: 'm' }], 'gw-1');
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 5, users: 1 }]);
  });

  it('lists the channels with members and their occupancy (unlisted ones left out)', async () => {
    await engine.presence.refresh([entry(CHANNELS.analytics, 'a', 'u1'), entry(CHANNELS.availability, 'b', null), entry(logsChannel('x'), 'c', 'u1')], 30, 'gw-1');
    await engine.presence.refresh([{ ...entry(logsChannel('index'), 'a', 'u1'), unlisted: true }], 30, 'gw-1');
    expect(await engine.presence.occupancy([logsChannel('index')])).toEqual([{ connections: 1, users: 1 }]);
    await engine.presence.leave([{ channel: logsChannel('x'), clientId: 'c' }]);
    const channels = await engine.presence.channels();
    expect(channels.sort((a, b) => a.channel.localeCompare(b.channel))).toEqual([
      { channel: CHANNELS.analytics, connections: 1, users: 1 },
      { channel: CHANNELS.availability, connections: 1, users: 1 },
    ]);
  });

  it('drops members that are not refreshed within their TTL, and keeps those that are', async () => {
    const channel = logsChannel('ttl');
    await engine.presence.refresh([entry(channel, 'kept', 'u1'), entry(channel, 'gone', 'u2'), entry(channel, 'gone-too', 'u1')], 1, 'gw-1');
    // Refreshed twice within the TTL: it outlives the others.
    const keep = setInterval(() => void engine.presence.refresh([entry(channel, 'kept', 'u1')], 1, 'gw-1'), 300);
    try {
      await waitFor(async () => (await engine.presence.occupancy([channel]))[0]?.connections === 1, { what: 'the two expired', timeoutMs: 10_000 });
    } finally {
      clearInterval(keep);
    }
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 1, users: 1 }]);
    expect((await engine.presence.members(channel, 10)).members.map((m) => m.clientId)).toEqual(['kept']);
    await waitFor(async () => (await engine.presence.channels()).length === 0, { what: 'the channel vacated', timeoutMs: 10_000 });
  });

  it('extends a member in ifOwned mode only while its owner holds it, and never registers one', async () => {
    const channel = logsChannel('owned');
    await engine.presence.refresh([{ ...entry(channel, 'ghost', 'u'), mode: 'ifOwned' }], 30, 'gw-1');
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 0, users: 0 }]);
    await engine.presence.refresh([entry(channel, 'held', 'u')], 1, 'gw-1');
    const keep = setInterval(() => void engine.presence.refresh([{ ...entry(channel, 'held', 'u'), mode: 'ifOwned' }], 1, 'gw-1'), 300);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 1, users: 1 }]);
    } finally {
      clearInterval(keep);
    }
  });

  it('agrees across gateways: one sees what another registered, and its leaves', async () => {
    const second = await secondGateway();
    await engine.presence.refresh([entry(CHANNELS.analytics, 'g1-a', 'alice')], 30, 'gw-1');
    await second.presence.refresh([entry(CHANNELS.analytics, 'g2-a', 'alice'), entry(CHANNELS.analytics, 'g2-b', 'bob')], 30, 'gw-2');
    expect(await engine.presence.occupancy([CHANNELS.analytics])).toEqual([{ connections: 3, users: 2 }]);
    expect(await second.presence.occupancy([CHANNELS.analytics])).toEqual([{ connections: 3, users: 2 }]);
    await second.presence.leave([{ channel: CHANNELS.analytics, clientId: 'g2-a' }], 'gw-2');
    expect(await engine.presence.occupancy([CHANNELS.analytics])).toEqual([{ connections: 2, users: 2 }]);
  });

  it("leaves a client that moved to another gateway where it is: the old gateway's leave does not remove it", async () => {
    const second = await secondGateway();
    const moving = entry(CHANNELS.availability, 'moving', 'carol', { at: 'gw-1' });
    await engine.presence.refresh([moving], 30, 'gw-1');
    await second.presence.refresh([{ ...moving, member: { ...moving.member, info: { at: 'gw-2' } } }], 30, 'gw-2');
    // The old gateway, in its grace period, extends it only while it holds it: it does not take it back.
    await engine.presence.refresh([{ ...moving, mode: 'ifOwned' }], 30, 'gw-1');
    await engine.presence.leave([{ channel: CHANNELS.availability, clientId: 'moving' }], 'gw-1');
    expect(await engine.presence.occupancy([CHANNELS.availability])).toEqual([{ connections: 1, users: 1 }]);
    expect((await engine.presence.members(CHANNELS.availability, 10)).members).toEqual([{ clientId: 'moving', userId: 'carol', info: { at: 'gw-2' } }]);
    await second.presence.leave([{ channel: CHANNELS.availability, clientId: 'moving' }], 'gw-2');
    expect(await engine.presence.occupancy([CHANNELS.availability])).toEqual([{ connections: 0, users: 0 }]);
  });

  it("keep mode extends a member its owner holds and registers an absent one, but never takes one another gateway holds", async () => {
    const second = await secondGateway();
    const channel = CHANNELS.availability;
    const moved = entry(channel, 'moved', 'carol', { at: 'gw-1' });
    // gw-1 registers it; the client reconnects to gw-2 (a join: the newest connection takes it over)
    // before gw-1 saw its connection close.
    await engine.presence.refresh([moved], 30, 'gw-1');
    await second.presence.refresh([{ ...moved, member: { ...moved.member, info: { at: 'gw-2' } } }], 30, 'gw-2');
    // gw-1's periodic refresh of what it still takes for open does not take it back...
    await engine.presence.refresh([{ ...moved, mode: 'keep' }], 30, 'gw-1');
    expect((await engine.presence.members(channel, 10)).members).toEqual([{ clientId: 'moved', userId: 'carol', info: { at: 'gw-2' } }]);
    // ...so gw-1's leave, once it saw the close, leaves the client where it is.
    await engine.presence.leave([{ channel, clientId: 'moved' }], 'gw-1');
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 1, users: 1 }]);
    // gw-2's own refresh in keep mode extends (and updates) what it holds.
    await second.presence.refresh([{ ...moved, member: { ...moved.member, userId: 'dave', info: { at: 'gw-2', n: 2 } }, mode: 'keep' }], 30, 'gw-2');
    expect((await engine.presence.members(channel, 10)).members).toEqual([{ clientId: 'moved', userId: 'dave', info: { at: 'gw-2', n: 2 } }]);
    expect(await engine.presence.occupancy([channel])).toEqual([{ connections: 1, users: 1 }]);
    // Absent (left, or expired): keep registers it.
    await second.presence.leave([{ channel, clientId: 'moved' }], 'gw-2');
    await engine.presence.refresh([{ ...moved, mode: 'keep' }], 30, 'gw-1');
    expect((await second.presence.members(channel, 10)).members).toEqual([{ clientId: 'moved', userId: 'carol', info: { at: 'gw-1' } }]);
    // (its own channel: a channel's keys live twice the TTL of its last refresh)
    const expiring = entry(logsChannel('keep-expired'), 'expiring', 'erin', { at: 'gw-2' });
    await second.presence.refresh([expiring, entry(expiring.channel, 'other', 'frank')], 1, 'gw-2');
    const keepOther = setInterval(() => void second.presence.refresh([entry(expiring.channel, 'other', 'frank')], 1, 'gw-2'), 300);
    try {
      await waitFor(async () => (await engine.presence.occupancy([expiring.channel]))[0]?.connections === 1, { what: 'the member of gw-2 expired', timeoutMs: 10_000 });
      await engine.presence.refresh([{ ...expiring, member: { ...expiring.member, info: { at: 'gw-1' } }, mode: 'keep' }], 30, 'gw-1');
      expect((await engine.presence.members(expiring.channel, 10)).members.map((m) => [m.clientId, m.info['at']])).toEqual([['expiring', 'gw-1'], ['other', undefined]]);
    } finally {
      clearInterval(keepOther);
    }
  });

  it('refreshes thousands of members in one call', async () => {
    const entries = Array.from({ length: 5000 }, (_, n) => entry(logsChannel(`many-${n % 7}`), `c${n}`, `u${n % 1000}`));
    await engine.presence.refresh(entries, 30, 'gw-1');
    const occupancy = await engine.presence.occupancy(Array.from({ length: 7 }, (_, n) => logsChannel(`many-${n}`)));
    expect(occupancy.reduce((sum, o) => sum + o.connections, 0)).toBe(5000);
  });
});

describe('presence keys on a Redis Cluster', () => {
  it("live on the shard of the channel's position", () => {
    const topology = clusterTopology(16);
    for (const channel of [CHANNELS.analytics, logsChannel('shop'), logsChannel('other')]) {
      const slot = keySlot(topology.channel(channel).position);
      for (const key of presenceKeys(topology, channel)) expect(keySlot(key)).toBe(slot);
    }
  });

  it('are written where they belong (a real cluster accepts every script)', async () => {
    const engine = new RedisEngine({ cluster: { nodes: clusterNodes() }, logger });
    await engine.connect();
    const client = clusterClient(cluster);
    try {
      const channels = Array.from({ length: 20 }, (_, n) => logsChannel(`spread-${n}`));
      await engine.presence.refresh(channels.map((channel, n) => entry(channel, `c${n}`, 'u')), 30, 'gw-1');
      const occupancy = await engine.presence.occupancy(channels);
      expect(occupancy.every((o) => o.connections === 1 && o.users === 1)).toBe(true);
      const topology = clusterTopology(16);
      expect(await client.zcard(presenceKeys(topology, channels[0] as string)[1] as string)).toBe(1);
    } finally {
      client.disconnect();
      await engine.close();
    }
  });
});
