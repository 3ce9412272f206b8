import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AnalyticsClient, ErrorMonitorClient, applyPresenceDiff, presenceStore, type PresenceDiff, type PresenceSnapshot } from '@switchboard/client';
import { startTwoGatewayCluster, type TwoGatewayCluster } from '../support/cluster.js';
import { freePort } from '../support/ports.js';
import { IoClient } from '../support/socketio-client.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { TEST_BACKOFF } from './client-helpers.js';
import { PRODUCER_KEY } from './helpers.js';

/**
 * Presence diffs recovered by offset (docs/presence.md#resuming): a subscriber that moves from one
 * real gateway to the other while others join and leave gets the diffs it missed from the diff
 * channel's history, each once and in order, and ends with the exact member set; when the history
 * no longer covers the gap it gets a snapshot (`recovered: false`) and still ends exact. Raw
 * frames, and the SDK's presence store over a raw endpoint and over Socket.IO.
 */
const HISTORY_SIZE = 12;
let cluster: TwoGatewayCluster;
const cleanups: (() => void)[] = [];

interface Member {
  clientId: string;
}
const ids = (members: unknown): string[] => (members as Member[]).map((m) => m.clientId);
const sorted = (values: string[]): string[] => [...values].sort();

beforeAll(async () => {
  cluster = await startTwoGatewayCluster((redisEnv) => ({
    ...redisEnv,
    INGEST_API_KEYS: PRODUCER_KEY,
    // Leaves at once: every close is a change of its own.
    PRESENCE_GRACE_S: '0',
    HISTORY_SIZE: String(HISTORY_SIZE),
    UPGRADE_RATE_PER_ADDRESS: '10000',
    LOG_LEVEL: 'warn',
  }));
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

afterAll(async () => {
  await cluster?.stop();
});

async function open(url: string, clientId: string): Promise<TestClient> {
  const client = await TestClient.connect(`${url}?clientId=${clientId}`);
  cleanups.push(() => client.ws.terminate());
  return client;
}

/** A raw subscriber that records the diffs it receives (it proves when a change went through the diff channel). */
async function observer(url: string): Promise<TestClient> {
  const client = await TestClient.connect(url);
  cleanups.push(() => client.ws.terminate());
  client.send({ type: 'presence_subscribe' });
  client.send({ type: 'presence' });
  await client.next((f) => f.type === 'presence');
  return client;
}

const sawJoin = (client: TestClient, id: string) => client.of('presence_diff').some((d) => ids(d['joined']).includes(id));
const sawLeave = (client: TestClient, id: string) => client.of('presence_diff').some((d) => ids(d['left']).includes(id));

/** The channel's members now, as a connected client (`asker`) is told. */
async function truth(asker: TestClient): Promise<string[]> {
  const from = asker.frames.length;
  asker.send({ type: 'presence' });
  const snapshot = await asker.next((f) => f.type === 'presence', { from });
  return sorted(ids(snapshot['members']));
}

/**
 * A raw presence follower as a client would write it: a snapshot, then diffs applied in order;
 * on reconnect `presence_subscribe` with the last position.
 */
class RawFollower {
  state: PresenceSnapshot | undefined;
  epoch = '';
  offset = 0;
  /** Every diff applied, in order. */
  readonly applied: PresenceDiff[] = [];
  readonly answers: Frame[] = [];
  client: TestClient | undefined;
  private seen = 0;

  async start(url: string, clientId: string, resume: boolean): Promise<void> {
    const client = await open(url, clientId);
    this.client = client;
    this.seen = 0;
    if (!resume) {
      client.send({ type: 'presence' });
      const snapshot = (await client.next((f) => f.type === 'presence')) as unknown as PresenceSnapshot;
      this.state = snapshot;
      this.epoch = snapshot.epoch!;
      this.offset = snapshot.offset!;
    }
    client.send({ type: 'presence_subscribe', epoch: this.epoch, since: this.offset });
    const answer = await client.next((f) => f.type === 'presence_resumed');
    this.answers.push(answer);
    this.pump();
  }

  /** Applies what arrived since the last call, as the frames come: answers and diffs in order. */
  pump(): void {
    const frames = this.client!.frames.map((f) => f.frame);
    for (; this.seen < frames.length; this.seen++) {
      const frame = frames[this.seen]!;
      if (frame.type === 'presence_resumed') {
        if (frame['recovered'] === false) {
          this.state = frame['snapshot'] as PresenceSnapshot;
          this.epoch = String(frame['epoch']);
          this.offset = Number(frame['offset']);
        }
      } else if (frame.type === 'presence_diff') {
        const diff = frame as unknown as PresenceDiff;
        expect(diff.epoch).toBe(this.epoch);
        expect(diff.offset!).toBeGreaterThan(this.offset); // in order, none twice
        this.offset = diff.offset!;
        this.applied.push(diff);
        this.state = applyPresenceDiff(this.state!, diff);
      }
    }
  }

  members(): string[] {
    this.pump();
    return sorted(ids(this.state?.members ?? []));
  }

  joins(id: string): number {
    this.pump();
    return this.applied.filter((d) => ids(d.joined).includes(id)).length;
  }

  leaves(id: string): number {
    this.pump();
    return this.applied.filter((d) => ids(d.left).includes(id)).length;
  }
}

describe('raw presence subscribers resume by offset', () => {
  it('recovers the diffs missed while moving from gateway B to gateway A, each once and in order', async () => {
    const { gatewayA, gatewayB } = cluster;
    const path = '/ws/availability';
    const watch = await observer(gatewayA.wsUrl(path));
    await open(gatewayA.wsUrl(path), 'stays-r-01');
    const goes = await open(gatewayB.wsUrl(path), 'goes-r-001');
    await waitFor(() => sawJoin(watch, 'goes-r-001') && sawJoin(watch, 'stays-r-01'), { what: 'first members' });

    const follower = new RawFollower();
    await follower.start(gatewayB.wsUrl(path), 'watcher-r-01', false);
    expect(follower.answers[0]).toMatchObject({ recovered: true });
    const live = await open(gatewayA.wsUrl(path), 'live-r-001');
    await waitFor(() => follower.joins('live-r-001') === 1, { what: 'live join' });

    // The watcher drops; others come and go meanwhile, on both gateways.
    follower.client!.ws.terminate();
    await open(gatewayA.wsUrl(path), 'away-r-001');
    await open(gatewayB.wsUrl(path), 'away-r-002');
    goes.ws.terminate();
    live.ws.terminate();
    await waitFor(() => sawJoin(watch, 'away-r-001') && sawJoin(watch, 'away-r-002') && sawLeave(watch, 'goes-r-001') && sawLeave(watch, 'live-r-001'), {
      what: 'the changes made while away',
    });

    await follower.start(gatewayA.wsUrl(path), 'watcher-r-01', true);
    const answer = follower.answers[1]!;
    expect(answer).toMatchObject({ type: 'presence_resumed', channel: 'availability', recovered: true });
    expect(answer['count']).toBeGreaterThanOrEqual(2); // one frame per gateway window at least
    await waitFor(() => follower.joins('away-r-002') === 1 && follower.leaves('live-r-001') === 1, { what: 'missed diffs applied' });
    await open(gatewayB.wsUrl(path), 'after-r-01');
    await waitFor(() => follower.joins('after-r-01') === 1, { what: 'a live join after the resume' });

    // Ends with the exact member set, and saw each change once.
    await waitFor(async () => {
      const [mine, theirs] = [follower.members(), await truth(watch)];
      return JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined;
    }, { what: 'the follower agrees with the channel' });
    expect(follower.members()).toEqual(expect.arrayContaining(['after-r-01', 'away-r-001', 'away-r-002', 'stays-r-01', 'watcher-r-01']));
    for (const id of ['live-r-001', 'away-r-001', 'away-r-002', 'after-r-01']) expect(follower.joins(id), id).toBe(1);
    for (const id of ['goes-r-001', 'live-r-001']) expect(follower.leaves(id), id).toBe(1);
  });

  it('answers recovered:false with a snapshot when the history no longer covers the gap, and ends exact', async () => {
    const { gatewayA, gatewayB } = cluster;
    const path = '/ws/analytics';
    const watch = await observer(gatewayA.wsUrl(path));
    const follower = new RawFollower();
    await follower.start(gatewayA.wsUrl(path), 'watcher-f-01', false);
    follower.client!.ws.terminate();
    // More diff frames than the history keeps: one join at a time, each through before the next.
    for (let i = 0; i < HISTORY_SIZE + 3; i++) {
      const id = `many-f-${String(i).padStart(3, '0')}`;
      await open((i % 2 === 0 ? gatewayA : gatewayB).wsUrl(path), id);
      await waitFor(() => sawJoin(watch, id), { what: `join ${id}` });
    }
    await follower.start(gatewayB.wsUrl(path), 'watcher-f-01', true);
    const answer = follower.answers[1]!;
    expect(answer).toMatchObject({ type: 'presence_resumed', channel: 'analytics', recovered: false });
    expect(ids((answer['snapshot'] as PresenceSnapshot).members)).toContain(`many-f-${String(HISTORY_SIZE + 2).padStart(3, '0')}`);
    await open(gatewayA.wsUrl(path), 'after-f-01');
    await waitFor(() => follower.joins('after-f-01') === 1, { what: 'a live join after the snapshot' });
    await waitFor(async () => {
      const [mine, theirs] = [follower.members(), await truth(watch)];
      return JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined;
    }, { what: 'the follower agrees with the channel' });

    // A position of another epoch is not recovered either; a bad one is refused with its field.
    const other = await open(gatewayA.wsUrl(path), 'watcher-f-02');
    other.send({ type: 'presence_subscribe', epoch: 'not-an-epoch', since: 3 });
    expect(await other.next((f) => f.type === 'presence_resumed')).toMatchObject({ recovered: false });
    other.send({ type: 'presence_subscribe', epoch: 'x' });
    expect((await other.next((f) => f.type === 'error'))['message']).toMatch(/epoch and since/);
  });
});

/** A TCP relay the SDK connects through, pointed at one gateway; `moveTo` cuts every connection and points it at another. */
class Relay {
  private target: number;
  private down = false;
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
    target: number,
  ) {
    this.target = target;
    server.on('connection', (socket) => {
      if (this.down) return void socket.destroy();
      const upstream = tcpConnect(this.target, '127.0.0.1');
      for (const s of [socket, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          socket.destroy();
          upstream.destroy();
        });
      }
      socket.pipe(upstream).pipe(socket);
    });
  }

  static async start(target: number): Promise<Relay> {
    const port = await freePort();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return new Relay(server, port, target);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Cuts every connection; new ones are refused until `moveTo`. */
  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  moveTo(target: number): void {
    this.target = target;
    this.down = false;
  }

  close(): void {
    this.cut();
    this.server.close();
  }
}

const portOf = (url: string): number => Number(new URL(url).port);

describe('the SDK presence store across a move between gateways', () => {
  it('raw endpoint: recovered diffs, then a snapshot when the gap is too long; the store ends exact', async () => {
    const { gatewayA, gatewayB } = cluster;
    const relay = await Relay.start(portOf(gatewayB.url));
    cleanups.push(() => relay.close());
    const client = new AnalyticsClient({ url: relay.url, WebSocket, reconnect: TEST_BACKOFF });
    cleanups.push(() => client.close());
    const diffs: PresenceDiff[] = [];
    const store = presenceStore(client);
    cleanups.push(store.subscribe(() => undefined));
    cleanups.push(client.onPresence((diff) => diffs.push(diff)));
    const watch = await observer(gatewayA.wsUrl('/ws/analytics'));
    await waitFor(() => store.getSnapshot().loaded, { what: 'store loaded' });
    const storeIds = () => sorted(store.getSnapshot().members.map((m) => m.clientId));
    const seen = (id: string, key: 'joined' | 'left') => diffs.filter((d) => ids(d[key]).includes(id)).length;

    // Moved while two join and one leaves: recovered.
    const leaving = await open(gatewayA.wsUrl('/ws/analytics'), 'sdk-leaves-1');
    await waitFor(() => seen('sdk-leaves-1', 'joined') === 1, { what: 'join before the move' });
    relay.cut();
    await waitFor(() => client.state !== 'open', { what: 'client cut' });
    await open(gatewayA.wsUrl('/ws/analytics'), 'sdk-away-001');
    await open(gatewayB.wsUrl('/ws/analytics'), 'sdk-away-002');
    leaving.ws.terminate();
    await waitFor(() => sawJoin(watch, 'sdk-away-001') && sawJoin(watch, 'sdk-away-002') && sawLeave(watch, 'sdk-leaves-1'), { what: 'changes while away' });
    relay.moveTo(portOf(gatewayA.url));
    await waitFor(() => seen('sdk-away-002', 'joined') === 1 && seen('sdk-leaves-1', 'left') === 1, { what: 'missed diffs through the SDK' });
    const agree = async (what: string) =>
      waitFor(async () => {
        const [mine, theirs] = [storeIds(), await truth(watch)];
        return JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined;
      }, { what });
    await agree('the store agrees after a recovered move');
    for (const id of ['sdk-leaves-1', 'sdk-away-001', 'sdk-away-002']) expect(seen(id, 'joined'), id).toBe(1);
    expect(seen('sdk-leaves-1', 'left')).toBe(1);

    // Away for longer than the history reaches: a snapshot replaces the store.
    relay.cut();
    await waitFor(() => client.state !== 'open', { what: 'client cut again' });
    for (let i = 0; i < HISTORY_SIZE + 3; i++) {
      const id = `sdk-many-${String(i).padStart(3, '0')}`;
      await open((i % 2 === 0 ? gatewayA : gatewayB).wsUrl('/ws/analytics'), id);
      await waitFor(() => sawJoin(watch, id), { what: `join ${id}` });
    }
    relay.moveTo(portOf(gatewayB.url));
    const last = `sdk-many-${String(HISTORY_SIZE + 2).padStart(3, '0')}`;
    await waitFor(() => storeIds().includes(last), { what: 'the snapshot after the long gap' });
    await agree('the store agrees after a snapshot');
  });

  it('Socket.IO: the error feed presence store recovers the missed diffs after a move, each once', async () => {
    const { gatewayA, gatewayB } = cluster;
    const relay = await Relay.start(portOf(gatewayB.url));
    cleanups.push(() => relay.close());
    const client = new ErrorMonitorClient({ url: relay.url, reconnect: TEST_BACKOFF, socketOptions: { transports: ['websocket'] } });
    cleanups.push(() => client.close());
    const diffs: PresenceDiff[] = [];
    const store = presenceStore({ followPresence: (listener) => client.followPresence(listener, 'errors') });
    cleanups.push(store.subscribe(() => undefined));
    cleanups.push(client.onPresence((diff) => diffs.push(diff)));
    await waitFor(() => store.getSnapshot().loaded, { what: 'store loaded' });
    const storeIds = () => sorted(store.getSnapshot().members.map((m) => m.clientId));
    const seen = (id: string, key: 'joined' | 'left') => diffs.filter((d) => ids(d[key]).includes(id)).length;
    const io = async (url: string): Promise<IoClient> => {
      const other = await IoClient.connect(url, { transports: ['websocket'] });
      cleanups.push(() => other.close());
      return other;
    };
    const leaving = await io(gatewayA.url);
    const leavingId = leaving.socket.id!;
    await waitFor(() => seen(leavingId, 'joined') === 1, { what: 'join before the move' });

    relay.cut();
    await waitFor(() => client.state !== 'open', { what: 'client cut' });
    const away = [await io(gatewayA.url), await io(gatewayB.url)].map((c) => c.socket.id!);
    leaving.close();
    // Every change is through the diff channel before the client comes back.
    const probe = await io(gatewayA.url);
    await waitFor(async () => {
      const now = (await probe.ack('presence:get', 'errors')) as PresenceSnapshot;
      return away.every((id) => ids(now.members).includes(id)) && !ids(now.members).includes(leavingId);
    }, { what: 'changes while away written' });
    relay.moveTo(portOf(gatewayA.url));
    await waitFor(() => away.every((id) => seen(id, 'joined') === 1) && seen(leavingId, 'left') === 1, { what: 'missed diffs through the SDK', timeoutMs: 30_000 });
    await waitFor(async () => {
      const truthNow = (await probe.ack('presence:get', 'errors')) as PresenceSnapshot;
      const [mine, theirs] = [storeIds(), sorted(ids(truthNow.members))];
      return JSON.stringify(mine) === JSON.stringify(theirs) ? mine : undefined;
    }, { what: 'the store agrees with the channel' });
    for (const id of [leavingId, ...away]) expect(seen(id, 'joined'), id).toBe(1);
    expect(seen(leavingId, 'left')).toBe(1);
  });
});
