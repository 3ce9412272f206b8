import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_STREAM } from '@switchboard/protocol';
import { RedisServer } from '../support/redis-server.js';
import { NodeProcess } from '../support/node-process.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { PRODUCER_KEY } from './helpers.js';
import { anyString } from '../support/matchers.js';

/**
 * `Idempotency-Key` on the HTTP ingest routes, with real processes: a gateway and a worker on a
 * real Redis, and the `all` role on the in-memory engine.
 */
const OTHER_PRODUCER_KEY = 'test-producer-key-0002';

interface Answer {
  status: number;
  json: Record<string, unknown>;
  replayed: string | null;
}

async function postWithKey(node: NodeProcess, path: string, body: unknown, key: string | undefined, producer = PRODUCER_KEY): Promise<Answer> {
  const res = await fetch(`${node.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${producer}`,
      ...(key === undefined ? {} : { 'idempotency-key': key }),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, replayed: res.headers.get('idempotent-replayed') };
}

const pageView = (visitor: string) => ({ type: 'page_view', visitor_id: visitor, data: { path: '/' } });

interface Setup {
  ingest: NodeProcess;
  /** Ingest stream entries whose body names `text` (undefined on the in-memory engine). */
  entriesWith(text: string): Promise<number | undefined>;
  stop(): Promise<void>;
}

const setups: [string, () => Promise<Setup>][] = [
  [
    'gateway and worker on Redis',
    async () => {
      const redis = await RedisServer.start();
      const env = { REDIS_URL: redis.url, INGEST_API_KEYS: `${PRODUCER_KEY},${OTHER_PRODUCER_KEY}`, LOG_LEVEL: 'warn' };
      const [gateway, worker] = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('worker', env)]);
      return {
        ingest: gateway,
        async entriesWith(text) {
          const admin = redis.client();
          try {
            const entries = await admin.xrange(INGEST_STREAM, '-', '+');
            return entries.filter(([, fields]) => fields.some((v) => v.includes(text))).length;
          } finally {
            admin.disconnect();
          }
        },
        async stop() {
          await Promise.all([gateway, worker].map((n) => n.stop('SIGKILL')));
          await redis.stop();
        },
      };
    },
  ],
  [
    'the all role on the in-memory engine',
    async () => {
      const node = await NodeProcess.start('all', { INGEST_API_KEYS: `${PRODUCER_KEY},${OTHER_PRODUCER_KEY}`, LOG_LEVEL: 'warn' });
      return { ingest: node, entriesWith: () => Promise.resolve(undefined), stop: async () => void (await node.stop('SIGKILL')) };
    },
  ],
];

describe.each(setups)('Idempotency-Key: %s', (_name, make) => {
  let setup: Setup;
  const clients: TestClient[] = [];
  let run = 0;
  /** Names unique to this test, so tests never see each other's events. */
  const unique = (name: string) => `${name}-${process.pid}-${(run += 1)}`;

  beforeAll(async () => {
    setup = await make();
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await setup?.stop();
  });

  async function client(): Promise<TestClient> {
    const c = await TestClient.connect(setup.ingest.wsUrl('/ws/analytics'));
    clients.push(c);
    await c.next((f) => f.type === 'initial_stats', { what: 'initial_stats' });
    return c;
  }

  const eventsOf = (c: TestClient, visitor: string): Frame[] => c.frames.map((f) => f.frame).filter((f) => f['visitor_id'] === visitor);

  /** Posts an event without a key and waits for it: anything posted earlier has arrived by then. */
  async function settle(c: TestClient): Promise<void> {
    const marker = unique('settle');
    expect((await postWithKey(setup.ingest, '/events', pageView(marker), undefined)).status).toBe(202);
    await c.next((f) => f['visitor_id'] === marker, { what: 'the settling event' });
  }

  it('answers a repeated key with the first id and Idempotent-Replayed: true, and delivers the event once', async () => {
    const c = await client();
    const [visitor, key] = [unique('visitor'), unique('key')];
    const first = await postWithKey(setup.ingest, '/events', pageView(visitor), key);
    expect(first).toEqual({ status: 202, json: { id: anyString }, replayed: null });
    const second = await postWithKey(setup.ingest, '/events', pageView(visitor), key);
    expect(second).toEqual({ status: 202, json: { id: first.json['id'] }, replayed: 'true' });
    await settle(c);
    const delivered = eventsOf(c, visitor);
    expect(delivered).toHaveLength(1);
    expect(delivered[0]!['id']).toBe(first.json['id']);
    const entries = await setup.entriesWith(visitor);
    if (entries !== undefined) expect(entries).toBe(1);
  });

  it('keeps producers apart: the same key from two producers stores two events', async () => {
    const c = await client();
    const [visitor, key] = [unique('visitor'), unique('shared-key')];
    const mine = await postWithKey(setup.ingest, '/events', pageView(visitor), key, PRODUCER_KEY);
    const theirs = await postWithKey(setup.ingest, '/events', pageView(visitor), key, OTHER_PRODUCER_KEY);
    expect([mine.status, mine.replayed, theirs.status, theirs.replayed]).toEqual([202, null, 202, null]);
    expect(theirs.json['id']).not.toBe(mine.json['id']);
    await settle(c);
    expect(eventsOf(c, visitor).map((f) => f['id']).sort()).toEqual([mine.json['id'], theirs.json['id']].sort());
  });

  it('keeps routes apart, and replays a /logs batch with its original ids', async () => {
    const key = unique('key');
    expect((await postWithKey(setup.ingest, '/events', pageView(unique('visitor')), key)).replayed).toBeNull();
    const batch = [
      { appId: 'idem', level: 'info', message: 'one' },
      { appId: 'idem', level: 'warn', message: 'two' },
    ];
    const first = await postWithKey(setup.ingest, '/logs', batch, key);
    expect(first).toMatchObject({ status: 202, replayed: null });
    expect(first.json['ids']).toHaveLength(2);
    const again = await postWithKey(setup.ingest, '/logs', batch, key);
    expect(again).toEqual({ status: 202, json: first.json, replayed: 'true' });
  });

  it.each([
    ['x'.repeat(201), 'Idempotency-Key: expected at most 200 characters'],
    ['two words', 'Idempotency-Key: expected visible ASCII characters only (no spaces)'],
  ])('refuses a bad key (%s) with 400 and stores nothing', async (key, error) => {
    const visitor = unique('refused');
    expect(await postWithKey(setup.ingest, '/events', pageView(visitor), key)).toEqual({ status: 400, json: { error }, replayed: null });
    const entries = await setup.entriesWith(visitor);
    if (entries !== undefined) expect(entries).toBe(0);
    expect((await fetch(`${setup.ingest.url}/readyz`)).status).toBe(200);
  });
});
