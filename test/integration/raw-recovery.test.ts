import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Haproxy } from '../support/haproxy.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { RedisServer } from '../support/redis-server.js';
import { ResumingClient, type RawEndpointName } from '../support/resuming-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { PRODUCER_KEY, post } from './helpers.js';

/**
 * Nothing lost when anything moves: gateways restarted or killed, the pub/sub connection killed
 * or paused, Redis restarted empty. Real redis-server, two gateways, a worker and HAProxy;
 * clients are resuming raw clients that record every channel frame.
 */
const ENDPOINTS: RawEndpointName[] = ['analytics', 'availability', 'logs'];
const APP = 'recovery-app';
let redis: RedisServer;
let gateways: NodeProcess[] = [];
let worker: NodeProcess;
let proxy: Haproxy;
let env: Record<string, string>;
const clients: ResumingClient[] = [];

const base = (url: string): string => url.replace(/^http/, 'ws');

/** A steady flow of events of every product, through one base URL; keeps the accepted ids. */
class Flow {
  readonly accepted = new Map<RawEndpointName, string[]>(ENDPOINTS.map((e) => [e, []]));
  private running = true;
  private readonly done: Promise<void>;
  private sent = 0;

  constructor(
    private readonly target: () => string,
    tag: string,
    intervalMs = 30,
  ) {
    this.done = (async () => {
      while (this.running) {
        const endpoint = ENDPOINTS[this.sent % ENDPOINTS.length]!;
        const name = `${tag}-${this.sent++}`;
        const [path, body] =
          endpoint === 'analytics'
            ? ['/events', { type: 'page_view', visitor_id: name }]
            : endpoint === 'availability'
              ? ['/availability', { tourId: name, tourTitle: 'Tour', availableSeats: 2, maxGroupSize: 10, threshold: 3 }]
              : ['/logs', { appId: APP, level: 'info', message: name }];
        try {
          const res = await post(this.target(), path, body);
          // Only a 202 is a promise to deliver; anything else (a node going away) is not.
          if (res.status === 202) this.accepted.get(endpoint)!.push(res.json['id'] as string);
        } catch {
          // connection refused: not accepted
        }
        await sleep(intervalMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  total(): number {
    return [...this.accepted.values()].reduce((n, ids) => n + ids.length, 0);
  }
}

async function connectAll(bases: string[][], perEndpoint: number): Promise<ResumingClient[]> {
  const made: ResumingClient[] = [];
  for (const endpoint of ENDPOINTS) {
    for (let i = 0; i < perEndpoint; i++) {
      const c = await ResumingClient.connect(endpoint, bases[i % bases.length]!, {
        logsAuth: endpoint === 'logs' ? { userId: `u${i}`, appId: APP } : undefined,
      });
      made.push(c);
    }
  }
  clients.push(...made);
  return made;
}

/** Every accepted event on every client exactly once, in offset order, with no hole. */
async function expectEveryEventOnce(made: ResumingClient[], flow: Flow): Promise<void> {
  for (const c of made) {
    const want = flow.accepted.get(c.endpoint)!;
    await waitFor(() => want.every((id) => c.ids().includes(id)), { timeoutMs: 30_000, what: `every ${c.endpoint} event on a client` });
  }
  for (const c of made) {
    const want = new Set(flow.accepted.get(c.endpoint)!);
    const got = c.ids().filter((id) => want.has(id));
    expect(got.length, c.endpoint).toBe(want.size);
    expect(new Set(got).size, c.endpoint).toBe(want.size);
    expect(c.duplicates, c.endpoint).toEqual([]);
    expect(c.gaps, c.endpoint).toEqual([]);
  }
}

async function restartGateway(index: number, signal: NodeJS.Signals): Promise<void> {
  const old = gateways[index]!;
  await old.stop(signal);
  gateways[index] = await NodeProcess.start('gateway', { ...env, PORT: String(old.port), NODE_ID: old.nodeId });
}

/** Waits until HAProxy routes to both gateways again. */
async function bothBehindProxy(): Promise<void> {
  const seen = new Set<string>();
  await waitFor(
    async () => {
      const res = await fetch(`${proxy.url}/health`);
      if (res.status === 200) seen.add(((await res.json()) as { node: string }).node);
      return seen.size === 2;
    },
    { what: 'both gateways behind HAProxy', timeoutMs: 15_000 },
  ).catch(async (err: unknown) => {
    const direct = await Promise.all(
      gateways.map((g) =>
        fetch(`${g.url}/readyz`, { signal: AbortSignal.timeout(2000) }).then(
          async (r) => `${g.port}:${r.status}:${await r.text()}`,
          (e: unknown) => `${g.port}:${String(e)}`,
        ),
      ),
    );
    const viaProxy = await fetch(`${proxy.url}/health`, { signal: AbortSignal.timeout(3000) }).then(
      async (r) => `${r.status}:${(await r.text()).slice(0, 200)}`,
      (e: unknown) => String(e),
    );
    throw new Error(`${String(err)}; direct ${direct.join(' | ')}; via proxy ${viaProxy}; seen ${[...seen].join(',')}; haproxy: ${proxy.output.join('').slice(-1500)}`);
  });
}

const metric = async (node: NodeProcess, series: string): Promise<number> => metricValue(await node.metrics(), series) ?? 0;

beforeAll(async () => {
  redis = await RedisServer.start();
  env = {
    REDIS_URL: redis.url,
    INGEST_API_KEYS: PRODUCER_KEY,
    HEARTBEAT_INTERVAL_MS: '1000',
    LOG_LEVEL: 'warn',
  };
  gateways = await Promise.all([NodeProcess.start('gateway', env), NodeProcess.start('gateway', env)]);
  worker = await NodeProcess.start('worker', env);
  proxy = await Haproxy.start(gateways[0]!.port, gateways[1]!.port);
});

afterAll(async () => {
  for (const c of clients) c.stop();
  await proxy?.stop();
  await Promise.all([...gateways, worker].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

describe('recovery on the raw endpoints', () => {
  it('loses nothing through a rolling restart of every gateway behind HAProxy while events flow', async () => {
    const made = await connectAll([[base(proxy.url)]], 4);
    const flow = new Flow(() => proxy.url, 'rolling');
    await sleep(500);
    for (const index of [0, 1]) {
      await restartGateway(index, 'SIGTERM');
      // HAProxy takes the node back once its readiness check passes.
      await bothBehindProxy();
    }
    await sleep(500);
    await flow.stop();
    expect(flow.total()).toBeGreaterThan(10);
    await expectEveryEventOnce(made, flow);
    // Each client was moved at least once, and every resume recovered.
    for (const c of made) {
      expect(c.connections, `${c.endpoint}: ${JSON.stringify(c.closes.slice(0, 3))} ${JSON.stringify(c.errors.slice(-3))}`).toBeGreaterThanOrEqual(2);
      expect(c.resumes.every((r) => r.recovered)).toBe(true);
    }
    for (const c of made) c.stop();
  });

  it('loses nothing when a gateway is killed with SIGKILL: its clients resume on the other', async () => {
    const [a, b] = gateways as [NodeProcess, NodeProcess];
    const made = await connectAll([[base(a.url), base(b.url)]], 2);
    const flow = new Flow(() => b.url, 'killed');
    await sleep(500);
    await a.stop('SIGKILL');
    await waitFor(() => made.every((c) => c.connections >= 2), { what: 'every client back on the other gateway' });
    await sleep(500);
    await flow.stop();
    await expectEveryEventOnce(made, flow);
    for (const c of made) expect(c.resumes).toEqual([expect.objectContaining({ recovered: true, connection: 1 })]);
    for (const c of made) c.stop();
    gateways[0] = await NodeProcess.start('gateway', { ...env, PORT: String(a.port), NODE_ID: a.nodeId });
  });

  it('fills the hole when the pub/sub connections are killed (CLIENT KILL TYPE pubsub): clients see no gap', async () => {
    const [a, b] = gateways as [NodeProcess, NodeProcess];
    const made = await connectAll([[base(a.url)], [base(b.url)]], 2);
    const fills = (g: NodeProcess) =>
      Promise.all(['gap', 'restored', 'probe'].map((reason) => metric(g, `switchboard_gateway_gap_fills_total{reason="${reason}"}`))).then((v) =>
        v.reduce((x, y) => x + y, 0),
      );
    const fillsBefore = await Promise.all([a, b].map(fills));
    const flow = new Flow(() => a.url, 'pubsub-kill', 10);
    await sleep(500);
    const admin = redis.client();
    try {
      expect(Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'))).toBeGreaterThanOrEqual(2);
    } finally {
      admin.disconnect();
    }
    await sleep(1000);
    await flow.stop();
    await expectEveryEventOnce(made, flow);
    // No client noticed: same connection throughout.
    for (const c of made) expect(c.connections).toBe(1);
    // Each gateway read history after its subscription came back (a frame that skipped ahead,
    // or the restored subscription itself, whichever it noticed first).
    for (const [i, g] of [a, b].entries()) {
      await waitFor(async () => (await fills(g)) > fillsBefore[i]!, { what: `${g.nodeId} filling after the restored subscription` });
    }
    for (const c of made) c.stop();
  });

  it('reports not ready while the subscription is stalled (CLIENT PAUSE), then ready again with no gap for clients', async () => {
    const [a] = gateways as [NodeProcess];
    const made = await connectAll([[base(a.url)]], 1);
    const flow = new Flow(() => a.url, 'paused', 50);
    await sleep(300);
    const admin = redis.client();
    const PAUSE_MS = 7000;
    try {
      await admin.call('CLIENT', 'PAUSE', String(PAUSE_MS), 'ALL');
    } finally {
      admin.disconnect();
    }
    await waitFor(async () => (await fetch(`${a.url}/readyz`)).status === 503, { timeoutMs: PAUSE_MS, what: 'readyz 503 while paused' });
    const body = (await (await fetch(`${a.url}/readyz`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ready: false, subscription: 'down' });
    expect(await metric(a, 'switchboard_gateway_subscription_up')).toBe(0);
    await waitFor(async () => (await fetch(`${a.url}/readyz`)).status === 200, { timeoutMs: 20_000, what: 'readyz 200 after the pause' });
    expect(await metric(a, 'switchboard_gateway_subscription_up')).toBe(1);
    expect(await metric(a, 'switchboard_gateway_gap_fills_total{reason="probe"}')).toBeGreaterThanOrEqual(1);
    await sleep(500);
    await flow.stop();
    await expectEveryEventOnce(made, flow);
    for (const c of made) c.stop();
  });

  it('recovers from Redis restarting empty without a gateway restart: clients get a new epoch and recovered:false', async () => {
    const [a, b] = gateways as [NodeProcess, NodeProcess];
    const made = await connectAll([[base(a.url), base(b.url)]], 1);
    const epochs = new Map(made.map((c) => [c, c.position!.epoch]));
    await redis.kill();
    await redis.restart();
    for (const g of [a, b]) {
      await waitFor(async () => (await fetch(`${g.url}/readyz`)).status === 200, { timeoutMs: 30_000, what: `${g.nodeId} ready again` });
    }
    // Each client is told its history is gone, with the channel's new epoch.
    await waitFor(() => made.every((c) => c.resumes.some((r) => !r.recovered)), { timeoutMs: 30_000, what: 'recovered:false on every client' });
    for (const c of made) {
      const answer = c.resumes.find((r) => !r.recovered)!;
      expect(answer.epoch).not.toBe(epochs.get(c));
      expect(c.closes.some((close) => close.code === 1012)).toBe(true);
    }
    expect((await metric(a, 'switchboard_gateway_unfilled_holes_total{cause="epoch_changed"}')) + (await metric(b, 'switchboard_gateway_unfilled_holes_total{cause="epoch_changed"}'))).toBeGreaterThanOrEqual(1);
    // And events flow again, to every client, once.
    const flow = new Flow(() => b.url, 'after-redis', 30);
    await sleep(1500);
    await flow.stop();
    expect(flow.total()).toBeGreaterThan(10);
    await expectEveryEventOnce(made, flow);
    expect(await metric(a, 'switchboard_redis_up')).toBe(1);
  });
});
