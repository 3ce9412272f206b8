import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io, type Socket } from 'socket.io-client';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { NodeProcess } from '../support/node-process.js';
import { sleep, waitFor } from '../support/wait.js';
import { post } from './helpers.js';

/**
 * Socket.IO connection state recovery under churn, with real processes (redis-server, two
 * gateways, a worker) and the stock socket.io-client: a few hundred clients keep dropping and
 * coming back on the other gateway while reports flow, then both gateways are restarted in turn
 * (SIGTERM drain). Every client must get every report exactly once, on `error:new` and on its
 * service room's `error:service`, and every reconnect must come back recovered.
 */
const CLIENTS = 200;
const SERVICE_ROOMS = 4;
const env = (redisEnv: Record<string, string>): Record<string, string> => ({
  ...redisEnv,
  LOG_LEVEL: 'warn',
  HISTORY_TTL_S: '120',
  // Every client dials from loopback.
  MAX_CONNECTIONS_PER_ADDRESS: '0',
  UPGRADE_RATE_PER_ADDRESS: '0',
});

const serviceOf = (i: number) => `churn-svc-${i % SERVICE_ROOMS}`;

/** A stock socket.io-client that drops now and then and comes back on the next gateway. */
class ChurnClient {
  readonly socket: Socket;
  /** How many times each report (by sequence number) arrived, per event. */
  readonly seen = { 'error:new': new Map<number, number>(), 'error:service': new Map<number, number>() };
  reconnects = 0;
  recovered = 0;
  gotBroadcast = false;
  private target: number;
  private dropping = false;
  private stopped = false;
  /** A reconnect in progress (a drop's or a server close's). */
  private redialing: Promise<void> | undefined;

  constructor(
    private readonly urls: () => string[],
    readonly index: number,
  ) {
    this.target = index % 2;
    this.socket = io(this.urls()[this.target], { transports: ['websocket'], forceNew: true, reconnection: false, autoConnect: false, timeout: 60_000 });
    for (const event of ['error:new', 'error:service'] as const) {
      this.socket.on(event, (payload: { metadata?: { seq?: unknown } }) => {
        this.gotBroadcast = true;
        const seq = payload.metadata?.seq;
        if (typeof seq === 'number') this.seen[event].set(seq, (this.seen[event].get(seq) ?? 0) + 1);
      });
    }
    this.socket.on('disconnect', () => {
      if (this.dropping || this.stopped) return;
      // The server closed it (a drain): come back at once, as SDKs do, on the next gateway.
      this.redialing ??= sleep(Math.random() * 100).then(() => this.redial());
    });
  }

  async start(): Promise<void> {
    await this.dial();
    const ack: unknown = await this.socket.timeout(60_000).emitWithAck('subscribe:service', serviceOf(this.index));
    expect(ack).toEqual({ ok: true });
  }

  /** Cuts the transport (no Socket.IO goodbye: the server keeps the session), stays away, comes back. */
  async drop(awayMs: number): Promise<void> {
    if (this.redialing !== undefined || !this.socket.connected) return;
    this.dropping = true;
    const gone = new Promise((resolve) => this.socket.once('disconnect', resolve));
    this.socket.io.engine.close();
    await gone;
    this.dropping = false;
    await sleep(awayMs);
    this.redialing ??= this.redial();
    await this.redialing;
  }

  /** Resolves once no reconnect is in progress and the socket is connected. */
  async settled(): Promise<void> {
    await waitFor(() => this.redialing === undefined && this.socket.connected, { timeoutMs: 60_000, what: `client ${this.index} connected` });
  }

  private async redial(): Promise<void> {
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        this.target += 1;
        try {
          await this.dial();
          this.reconnects += 1;
          if (this.socket.recovered) this.recovered += 1;
          return;
        } catch {
          await sleep(Math.min(1000, 100 * 2 ** attempt));
        }
      }
    } finally {
      this.redialing = undefined;
    }
  }

  private dial(): Promise<void> {
    const urls = this.urls();
    (this.socket.io as unknown as { uri: string }).uri = urls[this.target % urls.length] as string;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        this.socket.off('connect', onConnect);
        this.socket.off('connect_error', done);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = () => done();
      this.socket.on('connect', onConnect);
      this.socket.on('connect_error', done);
      this.socket.connect();
    });
  }

  close(): void {
    this.stopped = true;
    this.socket.close();
  }
}

/** Posts one report per tick with a sequence number; `gateway()` says where. */
class Producer {
  readonly accepted: number[] = [];
  private running = true;
  private loop: Promise<void> | undefined;

  /** `seq`: the first sequence number (each test's reports are its own). */
  constructor(
    private readonly gateway: () => string,
    private seq: number,
  ) {}

  start(ratePerS: number): void {
    this.loop = (async () => {
      while (this.running) {
        const seq = this.seq++;
        const service = serviceOf(seq);
        const res = await post(this.gateway(), '/report', { service, error: { message: 'churn' }, level: 'error', metadata: { seq } }, {}).catch(() => undefined);
        if (res?.status === 202) this.accepted.push(seq);
        await sleep(1000 / ratePerS);
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }
}

/** Every client got every accepted report once on `error:new`, and once on `error:service` when it is in that report's room. */
function deliveryFaults(clients: ChurnClient[], accepted: number[]): string[] {
  const faults: string[] = [];
  for (const c of clients) {
    for (const seq of accepted) {
      const fresh = c.seen['error:new'].get(seq) ?? 0;
      const room = c.seen['error:service'].get(seq) ?? 0;
      const inRoom = serviceOf(seq) === serviceOf(c.index);
      if (fresh !== 1) faults.push(`client ${c.index} got report ${seq} ${fresh} times on error:new`);
      if (room !== (inRoom ? 1 : 0)) faults.push(`client ${c.index} got report ${seq} ${room} times on error:service`);
    }
  }
  return faults;
}

const sum = (clients: ChurnClient[], f: (c: ChurnClient) => number) => clients.reduce((n, c) => n + f(c), 0);

async function recoveryFailures(gateways: NodeProcess[]): Promise<string[]> {
  const lines: string[] = [];
  for (const g of gateways) {
    for (const line of (await g.metrics()).split('\n')) {
      if (line.startsWith('switchboard_socketio_recovery_failures_total{')) lines.push(`${g.nodeId}: ${line}`);
    }
  }
  return lines;
}

describe('Socket.IO recovery under churn and rolling restarts (two gateways, Redis, stock socket.io-client)', () => {
  let cluster: TwoGatewayCluster;
  let gateways: NodeProcess[] = [];
  const clients: ChurnClient[] = [];
  const urls = () => gateways.map((g) => g.url);

  beforeAll(async () => {
    cluster = await startTwoGatewayCluster(env);
    gateways = [cluster.gatewayA, cluster.gatewayB];
    for (let i = 0; i < CLIENTS; i++) clients.push(new ChurnClient(urls, i));
    for (let i = 0; i < CLIENTS; i += 50) await Promise.all(clients.slice(i, i + 50).map((c) => c.start()));
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(gateways.filter((g) => g !== cluster?.gatewayA && g !== cluster?.gatewayB).map((g) => g.stop('SIGKILL')));
    await cluster?.stop();
  });

  it('loses nothing while clients keep dropping and coming back on the other gateway', async () => {
    let producerTurn = 0;
    const producer = new Producer(() => gateways[producerTurn++ % 2]!.url, 0);
    // A quarter of the clients drop before any broadcast reached them: they come back with the
    // offset the gateway gave them when they connected.
    const early = clients.slice(0, CLIENTS / 4).map((c) => c.drop(1000));
    await waitFor(() => clients.slice(0, CLIENTS / 4).every((c) => !c.socket.connected), { what: 'the early drops' });
    expect(clients.every((c) => !c.gotBroadcast)).toBe(true);
    producer.start(20);
    await Promise.all(early);
    // Each client drops every ~3 s (± 30 %) for 500 ms, for 15 s.
    const until = Date.now() + 15_000;
    await Promise.all(
      clients.map(async (c) => {
        await sleep(Math.random() * 3000);
        while (Date.now() < until) {
          await c.drop(500);
          await sleep(3000 * (0.7 + Math.random() * 0.6));
        }
      }),
    );
    await producer.stop();
    await Promise.all(clients.map((c) => c.settled()));
    const last = producer.accepted.at(-1)!;
    await waitFor(() => clients.every((c) => c.seen['error:new'].has(last)), { timeoutMs: 60_000, what: 'the last report on every client' }).catch(() => undefined);

    const reconnects = sum(clients, (c) => c.reconnects);
    expect(producer.accepted.length).toBeGreaterThan(200);
    expect(reconnects).toBeGreaterThan(CLIENTS * 3);
    expect({ failures: await recoveryFailures(gateways), notRecovered: reconnects - sum(clients, (c) => c.recovered) }).toEqual({ failures: [], notRecovered: 0 });
    expect(deliveryFaults(clients, producer.accepted).slice(0, 10)).toEqual([]);
  }, 240_000);

  it('loses nothing through a rolling restart of both gateways (SIGTERM drain, restart on the same port)', async () => {
    const before = sum(clients, (c) => c.reconnects);
    const recoveredBefore = sum(clients, (c) => c.recovered);
    let restarting = -1;
    // The producer posts to the gateway that is not being restarted.
    const producer = new Producer(() => gateways[restarting === 0 ? 1 : 0]!.url, 1_000_000);
    producer.start(20);
    await sleep(1000);
    for (const i of [0, 1]) {
      restarting = i;
      const old = gateways[i]!;
      const held = clients.filter((c) => c.socket.connected && (c.socket.io as unknown as { uri: string }).uri === old.url).length;
      expect(held).toBeGreaterThan(0);
      await old.stop('SIGTERM');
      gateways[i] = await NodeProcess.start('gateway', { ...env(cluster.redis.env), PORT: String(old.port) });
      restarting = -1;
      await sleep(2000);
    }
    await producer.stop();
    await Promise.all(clients.map((c) => c.settled()));
    const last = producer.accepted.at(-1)!;
    await waitFor(() => clients.every((c) => c.seen['error:new'].has(last)), { timeoutMs: 60_000, what: 'the last report on every client' }).catch(() => undefined);

    const reconnects = sum(clients, (c) => c.reconnects) - before;
    expect(reconnects).toBeGreaterThanOrEqual(CLIENTS);
    expect({ failures: await recoveryFailures(gateways), notRecovered: reconnects - (sum(clients, (c) => c.recovered) - recoveredBefore) }).toEqual({ failures: [], notRecovered: 0 });
    expect(producer.accepted.length).toBeGreaterThan(40);
    expect(deliveryFaults(clients, producer.accepted).slice(0, 10)).toEqual([]);
  }, 240_000);
});
