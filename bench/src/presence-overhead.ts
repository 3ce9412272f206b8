/**
 * What presence costs a gateway: one gateway process with `PRESENCE_ENABLED=false` against one
 * with presence on (the default), measured the same way one after the other on the same Redis.
 *
 * - RSS per idle connection (after full collections, through the inspector): raw `/ws/analytics`
 *   clients that never ask for presence; on the presence gateway also clients that subscribe to
 *   the channel's diffs (`presence_subscribe`); Socket.IO clients (every one is on the error
 *   feed's presence). Target: presence adds at most 10 %.
 * - Fan-out: frames committed on `sb:ch:analytics` as a worker does, at a fixed rate, to every
 *   connected client: the gateway's CPU time per delivered frame. Target: at most 5 % more.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { createEngine } from '@switchboard/engine';
import { CHANNELS, analyticsEventFrame, newEventId } from '@switchboard/protocol';
import { memoryAfterGc } from './lib/inspector.js';
import { SWITCHBOARD_CLI, cpuSeconds, rssBytes, startNode, type Proc } from './lib/proc.js';

export interface OverheadOptions {
  redisEnv: Record<string, string>;
  /** Clients of each kind added per step (the marginal cost is measured over one step). */
  clients: number;
  /** Fan-out: frames per second, for `fanoutS` seconds. */
  fanoutRate: number;
  fanoutS: number;
  /** Alternating off/on rounds (the median of each is kept). */
  rounds: number;
  /** Write each gateway's CPU profile (`--cpu-prof`) under this directory (`off/`, `on/`). */
  profileDir?: string;
}

interface GatewayFigures {
  /** KB of RSS per idle connection. */
  rawKb: number;
  /** Clients that sent `presence_subscribe` (refused when presence is off). */
  rawAskingKb: number;
  socketIoKb: number;
  /** The JavaScript side of the same (heap used + external, after full collections): steadier than RSS. */
  rawJsKb: number;
  rawAskingJsKb: number;
  socketIoJsKb: number;
  /** Gateway CPU µs per delivered frame. */
  fanoutUsPerDelivery: number;
  /** Gateway CPU (% of a core) over 5 s with every client connected and nothing published: the background (presence refreshes, probes). */
  idleCpuPct: number;
  deliveries: number;
}

export interface OverheadResult {
  clients: number;
  rounds: number;
  off: GatewayFigures;
  on: GatewayFigures;
  /** on / off. */
  ratios: { rawRss: number; rawAskingRss: number; socketIoRss: number; fanoutCpu: number };
  targets: { rssRatioMax: number; fanoutRatioMax: number };
}

const BENCH_ENV = { LOG_LEVEL: 'warn', NODE_ENV: 'development', HEARTBEAT_INTERVAL_MS: '5000', MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '0' };

/** Memory after full collections (RSS after a short settle, for freed pages to go back to the system; and the JS heap and off-heap memory). */
async function settled(proc: Proc): Promise<{ rss: number; js: number }> {
  const usage = await memoryAfterGc(proc.inspectPort!);
  await sleep(500);
  return { rss: rssBytes(proc.child.pid), js: usage.heapUsed + usage.external };
}

/** KB per client, from a growth in bytes. */
const kb = (bytes: number, count: number): number => Math.round((bytes / count / 1024) * 100) / 100;

async function openRaw(url: string, count: number, asking: boolean, counter: { frames: number }): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let from = 0; from < count; from += 100) {
    const batch = Array.from({ length: Math.min(100, count - from) }, async () => {
      const ws = new WebSocket(url);
      ws.on('message', () => counter.frames++);
      ws.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      if (asking) ws.send('{"type":"presence_subscribe"}');
      sockets.push(ws);
    });
    await Promise.all(batch);
  }
  return sockets;
}

async function openSocketIo(url: string, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let from = 0; from < count; from += 100) {
    const batch = Array.from({ length: Math.min(100, count - from) }, async () => {
      const socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', reject);
      });
      sockets.push(socket);
    });
    await Promise.all(batch);
  }
  return sockets;
}

/** The growth of the gateway's settled memory while `add` connects `count` clients, in KB per client. */
async function perConnectionKb(proc: Proc, count: number, add: () => Promise<unknown>): Promise<{ rss: number; js: number }> {
  const before = await settled(proc);
  await add();
  await sleep(1000);
  const after = await settled(proc);
  return { rss: kb(after.rss - before.rss, count), js: kb(after.js - before.js, count) };
}

/** One gateway, presence on or off: its figures. */
async function measureGateway(options: OverheadOptions, presence: boolean): Promise<GatewayFigures> {
  const profile = options.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}/${presence ? 'on' : 'off'}`];
  const env = { ...BENCH_ENV, ...options.redisEnv, PRESENCE_ENABLED: String(presence), NODE_ID: 'bench-presence' };
  const { proc, port } = await startNode(`gateway-presence-${presence ? 'on' : 'off'}`, SWITCHBOARD_CLI, ['gateway'], env, '/readyz', { execArgv: profile });
  const raw: WebSocket[] = [];
  const sio: Socket[] = [];
  const counter = { frames: 0 };
  const wsUrl = `ws://127.0.0.1:${port}/ws/analytics`;
  const { clients } = options;
  try {
    // A first step warms the gateway up (JIT, first allocations); the next ones are measured.
    raw.push(...(await openRaw(wsUrl, clients, false, counter)));
    sio.push(...(await openSocketIo(`http://127.0.0.1:${port}`, Math.min(clients, 200))));
    const rawKb = await perConnectionKb(proc, clients, async () => raw.push(...(await openRaw(wsUrl, clients, false, counter))));
    // Off, these clients are answered an error and stay as plain ones: the same connections either way.
    const rawAskingKb = await perConnectionKb(proc, clients, async () => raw.push(...(await openRaw(wsUrl, clients, true, counter))));
    const socketIoKb = await perConnectionKb(proc, clients, async () => sio.push(...(await openSocketIo(`http://127.0.0.1:${port}`, clients))));
    const fanout = await measureFanout(options, proc, raw.length, counter);
    return { rawKb: rawKb.rss, rawAskingKb: rawAskingKb.rss, socketIoKb: socketIoKb.rss, rawJsKb: rawKb.js, rawAskingJsKb: rawAskingKb.js, socketIoJsKb: socketIoKb.js, ...fanout };
  } finally {
    for (const ws of raw) ws.terminate();
    for (const socket of sio) socket.close();
    await proc.stop();
  }
}

/** Frames committed on the analytics channel at a fixed rate: the gateway's CPU per delivery. */
async function measureFanout(options: OverheadOptions, proc: Proc, clients: number, counter: { frames: number }): Promise<{ fanoutUsPerDelivery: number; deliveries: number; idleCpuPct: number }> {
  const engine = createEngine({ redisUrl: options.redisEnv['REDIS_URL'] }, pino({ level: 'warn' }));
  await engine.connect();
  try {
    const frame = () => analyticsEventFrame({ type: 'page_view', id: newEventId(), visitor_id: 'bench-visitor', timestamp: new Date().toISOString(), data: { page: '/bench' } });
    const publish = async (count: number) => {
      const intervalMs = 1000 / options.fanoutRate;
      const start = performance.now();
      for (let i = 0; i < count; i++) {
        await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: CHANNELS.analytics, frame: frame() } });
        const due = start + (i + 1) * intervalMs - performance.now();
        if (due > 0) await sleep(due);
      }
    };
    await publish(Math.min(50, options.fanoutRate)); // warm-up
    // The background with nothing published (and the presence diffs of the joins long sent).
    const idleFrom = cpuSeconds(proc.child.pid);
    await sleep(5000);
    const idleCpuPct = Math.round((cpuSeconds(proc.child.pid) - idleFrom) * 20 * 10) / 10;
    const frames = options.fanoutRate * options.fanoutS;
    const received = counter.frames;
    const cpu = cpuSeconds(proc.child.pid);
    await publish(frames);
    // Every client has every frame (or 10 s passed).
    const expected = received + frames * clients;
    for (let waited = 0; counter.frames < expected && waited < 10_000; waited += 100) await sleep(100);
    const used = cpuSeconds(proc.child.pid) - cpu;
    const deliveries = counter.frames - received;
    return { fanoutUsPerDelivery: Math.round((used / Math.max(1, deliveries)) * 1e6 * 1000) / 1000, deliveries, idleCpuPct };
  } finally {
    await engine.close();
  }
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
};
const medianFigures = (runs: GatewayFigures[]): GatewayFigures => ({
  rawKb: median(runs.map((r) => r.rawKb)),
  rawAskingKb: median(runs.map((r) => r.rawAskingKb)),
  socketIoKb: median(runs.map((r) => r.socketIoKb)),
  rawJsKb: median(runs.map((r) => r.rawJsKb)),
  rawAskingJsKb: median(runs.map((r) => r.rawAskingJsKb)),
  socketIoJsKb: median(runs.map((r) => r.socketIoJsKb)),
  fanoutUsPerDelivery: median(runs.map((r) => r.fanoutUsPerDelivery)),
  idleCpuPct: median(runs.map((r) => r.idleCpuPct)),
  deliveries: median(runs.map((r) => r.deliveries)),
});
const ratio = (on: number, off: number): number => Math.round((on / off) * 1000) / 1000;

/** Off and on, alternating, `rounds` times each. */
export async function measurePresenceOverhead(options: OverheadOptions, log: (line: string) => void): Promise<OverheadResult> {
  const off: GatewayFigures[] = [];
  const on: GatewayFigures[] = [];
  for (let round = 0; round < options.rounds; round++) {
    off.push(await measureGateway(options, false));
    log(`round ${round + 1} presence off: ${JSON.stringify(off.at(-1))}\n`);
    on.push(await measureGateway(options, true));
    log(`round ${round + 1} presence on:  ${JSON.stringify(on.at(-1))}\n`);
  }
  const [a, b] = [medianFigures(off), medianFigures(on)];
  return {
    clients: options.clients,
    rounds: options.rounds,
    off: a,
    on: b,
    ratios: {
      rawRss: ratio(b.rawKb, a.rawKb),
      rawAskingRss: ratio(b.rawAskingKb, a.rawAskingKb),
      socketIoRss: ratio(b.socketIoKb, a.socketIoKb),
      fanoutCpu: ratio(b.fanoutUsPerDelivery, a.fanoutUsPerDelivery),
    },
    targets: { rssRatioMax: 1.1, fanoutRatioMax: 1.05 },
  };
}
