import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from '../support/node-process.js';
import { RedisServer } from '../support/redis-server.js';
import { ResumingClient, type RawEndpointName } from '../support/resuming-client.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * Redis restarted empty while clients are away: the events accepted after the restart reach
 * every client that resumes with the old epoch and `acrossEpochs`, once each, with
 * `recovered:true` and the new epoch, when the new epoch's history still holds its offset 1;
 * otherwise the resume is answered `recovered:false`, as without it. Real redis-server
 * (killed with SIGKILL, restarted empty), two gateways and a worker.
 */
const ENDPOINTS: RawEndpointName[] = ['analytics', 'availability', 'logs'];
const APP = 'epoch-app';
/** Frames each channel's history keeps: the negative case posts more than this. */
const HISTORY_SIZE = 30;
let redis: RedisServer;
let gateways: NodeProcess[] = [];
let worker: NodeProcess;
const clients: ResumingClient[] = [];

const base = (node: NodeProcess): string => node.url.replace(/^http/, 'ws');

/** Posts one event of `endpoint` until it is accepted (Redis may still be coming back); returns its id. */
async function accept(target: NodeProcess, endpoint: RawEndpointName, name: string): Promise<string> {
  const [path, body] =
    endpoint === 'analytics'
      ? ['/events', { type: 'page_view', visitor_id: name }]
      : endpoint === 'availability'
        ? ['/availability', { tourId: name, tourTitle: 'Tour', availableSeats: 2, maxGroupSize: 10, threshold: 3 }]
        : ['/logs', { appId: APP, level: 'info', message: name }];
  let id: string | undefined;
  await waitFor(
    async () => {
      const res = await post(target.url, path, body).catch(() => undefined);
      if (res?.status === 202) id = res.json['id'] as string;
      return id !== undefined;
    },
    { timeoutMs: 30_000, what: `${endpoint} event ${name} accepted` },
  );
  return id!;
}

async function connectAll(): Promise<ResumingClient[]> {
  const made: ResumingClient[] = [];
  for (const endpoint of ENDPOINTS) {
    for (const [i, g] of gateways.entries()) {
      const c = await ResumingClient.connect(endpoint, [base(g)], {
        acrossEpochs: true,
        logsAuth: endpoint === 'logs' ? { userId: `u${i}`, appId: APP } : undefined,
      });
      made.push(c);
    }
  }
  clients.push(...made);
  return made;
}

/** Redis killed and restarted empty; returns once both gateways are ready again. */
async function restartRedisEmpty(): Promise<void> {
  await redis.kill();
  await redis.restart();
  for (const g of gateways) {
    await waitFor(async () => (await fetch(`${g.url}/readyz`).catch(() => undefined))?.status === 200, { timeoutMs: 30_000, what: `${g.nodeId} ready again` });
  }
}

/**
 * Waits until a fresh connection to every gateway and endpoint starts in an epoch other than
 * `old`, at `offset` or later: each node's feed followed the new epoch and forwarded what was posted.
 */
async function nodesInNewEpoch(old: Map<RawEndpointName, string>, offsets: Map<RawEndpointName, number>): Promise<void> {
  for (const endpoint of ENDPOINTS) {
    for (const g of gateways) {
      await waitFor(
        async () => {
          const probe = await ResumingClient.connect(endpoint, [base(g)], { logsAuth: endpoint === 'logs' ? { userId: 'probe', appId: APP } : undefined });
          const position = probe.position!;
          probe.stop();
          return position.epoch !== old.get(endpoint) && position.offset >= (offsets.get(endpoint) ?? 0);
        },
        { timeoutMs: 30_000, intervalMs: 200, what: `${g.nodeId} ${endpoint} in the new epoch` },
      );
    }
  }
}

const epochsOf = (made: ResumingClient[]): Map<RawEndpointName, string> => new Map(made.map((c) => [c.endpoint, c.position!.epoch]));

beforeAll(async () => {
  redis = await RedisServer.start();
  const env = {
    REDIS_URL: redis.url,
    INGEST_API_KEYS: PRODUCER_KEY,
    HEARTBEAT_INTERVAL_MS: '1000',
    HISTORY_SIZE: String(HISTORY_SIZE),
    LOG_LEVEL: 'warn',
  };
  gateways = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('gateway', env)]);
  worker = await NodeProcess.start('worker', env);
});

afterAll(async () => {
  for (const c of clients) c.stop();
  await Promise.all([...gateways, worker].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

describe('resuming across a Redis restart (acrossEpochs)', () => {
  it('replays every event accepted after Redis restarted empty, once, to clients that resume with the old epoch', async () => {
    const made = await connectAll();
    const [a, b] = gateways as [NodeProcess, NodeProcess];
    // One event before, so the old epoch has offsets the new one will reuse.
    for (const endpoint of ENDPOINTS) await accept(a, endpoint, `before-${endpoint}`);
    await waitFor(() => made.every((c) => c.ids().length === 1), { timeoutMs: 30_000, what: 'the first event on every client' });
    const old = epochsOf(made);
    for (const c of made) c.away();

    await restartRedisEmpty();
    const accepted = new Map<RawEndpointName, string[]>(ENDPOINTS.map((e) => [e, []]));
    for (let i = 0; i < 8; i++) {
      for (const endpoint of ENDPOINTS) accepted.get(endpoint)!.push(await accept(i % 2 === 0 ? a : b, endpoint, `after-${endpoint}-${i}`));
    }
    await nodesInNewEpoch(old, new Map([['analytics', 8], ['availability', 8]]));

    for (const c of made) c.comeBack();
    for (const c of made) {
      const want = accepted.get(c.endpoint)!;
      await waitFor(() => want.every((id) => c.ids().includes(id)), { timeoutMs: 30_000, what: `every ${c.endpoint} event accepted after the restart` });
    }
    for (const c of made) {
      const answer = c.resumes.at(-1)!;
      expect(answer, c.endpoint).toMatchObject({ recovered: true, epochChanged: true, connection: 1 });
      expect(answer.epoch).not.toBe(old.get(c.endpoint));
      const want = new Set(accepted.get(c.endpoint));
      const got = c.ids().filter((id) => want.has(id));
      expect(got, c.endpoint).toEqual(accepted.get(c.endpoint));
      expect(c.duplicates, c.endpoint).toEqual([]);
      expect(c.gaps, c.endpoint).toEqual([]);
    }
    // Live frames keep coming in the new epoch.
    const live = await accept(b, 'analytics', 'live-after-resume');
    for (const c of made.filter((m) => m.endpoint === 'analytics')) {
      await waitFor(() => c.ids().includes(live), { timeoutMs: 30_000, what: 'a live event after the resume' });
    }
    for (const c of made) c.stop();
  });

  it('answers recovered:false, as without acrossEpochs, when the new epoch\'s history no longer holds its offset 1', async () => {
    const made = await connectAll();
    const [a] = gateways as [NodeProcess];
    const old = epochsOf(made);
    for (const c of made) c.away();

    await restartRedisEmpty();
    // More analytics events than the history keeps: its offset 1 is gone.
    const count = HISTORY_SIZE + 5;
    for (let i = 0; i < count; i++) await accept(a, 'analytics', `overflow-${i}`);
    await nodesInNewEpoch(old, new Map([['analytics', count]]));

    const analytics = made.filter((c) => c.endpoint === 'analytics');
    const receivedBefore = new Map(analytics.map((c) => [c, c.received.length]));
    for (const c of analytics) c.comeBack();
    await waitFor(() => analytics.every((c) => c.resumes.length > 0), { timeoutMs: 30_000, what: 'every analytics client resumed' });
    for (const c of analytics) {
      const answer = c.resumes.at(-1)!;
      expect(answer.recovered).toBe(false);
      expect(answer.offset).toBeGreaterThanOrEqual(count);
      expect(answer.epochChanged).toBeUndefined();
      expect(answer.epoch).not.toBe(old.get('analytics'));
      // Nothing replayed (live frames, heartbeats among them, may follow): the client rebuilds
      // its state from its first frame.
      const since = c.received.slice(receivedBefore.get(c)).map((f) => f['offset'] as number);
      expect(since.every((offset) => offset > answer.offset!), JSON.stringify(since)).toBe(true);
      expect(c.gaps).toEqual([]);
    }
    for (const c of made) c.stop();
  });
});
