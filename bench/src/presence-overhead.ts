/**
 * What presence costs a gateway: one gateway process with `PRESENCE_ENABLED=false` against one
 * with presence on (the default), measured the same way on the same Redis, round after round with
 * the order swapped every round (off-on, on-off, …) so a load that rises or falls weighs on both.
 *
 * - RSS per idle connection (after full collections, through the inspector), per step of
 *   `clients` connections: raw `/ws/analytics` clients that never ask for presence; raw clients
 *   that subscribe to the channel's diffs (`presence_subscribe`) once connected, on a quiet channel
 *   (the subscription's own cost); Socket.IO clients (every one is on the error feed's presence);
 *   and, last, raw clients that subscribe as they connect, all at once (each one's join is news to
 *   every one before it: the diff traffic of a join burst, which grows with the square of it).
 *   Target: presence adds at most 10 %.
 * - Fan-out: frames committed on `sb:ch:analytics` as a worker does, at a fixed rate, to every
 *   connected client: the gateway's CPU time per delivered frame (its own /proc counters), and a
 *   CPU profile of that window alone (through the inspector), of which the share of samples with
 *   presence code on the stack is reported. Target: at most 5 % more.
 *
 * Each figure is reported as the median of the rounds with its spread, and the on / off ratio of
 * each round (a round's two gateways ran back to back): when those ratios straddle the target,
 * the machine's noise is larger than the effect.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { createEngine } from '@switchboard/engine';
import { CHANNELS, analyticsEventFrame, newEventId } from '@switchboard/protocol';
import { memoryAfterGc, profiled, type CpuProfile } from './lib/inspector.js';
import { SWITCHBOARD_CLI, cpuSeconds, rssBytes, startNode, type Proc } from './lib/proc.js';

export interface OverheadOptions {
  redisEnv: Record<string, string>;
  /** Clients of each kind added per step (the marginal cost is measured over one step). */
  clients: number;
  /** Fan-out: frames per second, for `fanoutS` seconds. */
  fanoutRate: number;
  fanoutS: number;
  /** Rounds of one gateway off and one on (the median of each is kept). */
  rounds: number;
  /** Write each gateway's whole-life CPU profile (`--cpu-prof`) and each fan-out window's under this directory. */
  profileDir?: string;
}

/** One gateway's figures (KB per connection, CPU µs per delivery). */
export interface GatewayFigures {
  rawKb: number;
  rawJsKb: number;
  /** Raw clients that subscribed once connected (refused when presence is off). */
  subscribedKb: number;
  subscribedJsKb: number;
  /** MB of frames those clients received, in all (one error each when presence is off; nothing else expected). */
  subscribedMb: number;
  socketIoKb: number;
  socketIoJsKb: number;
  /** Raw clients that subscribed as they connected, all at once. */
  burstKb: number;
  burstJsKb: number;
  /** MB of frames the burst's clients received, in all (on: the join diffs; off: one error each). */
  burstMb: number;
  fanoutUsPerDelivery: number;
  /** % of the fan-out window's busy profile samples with presence code on the stack. */
  fanoutPresencePct: number;
  /** Gateway CPU (% of a core) over 5 s with every client connected and nothing published: the background (presence refreshes, probes). */
  idleCpuPct: number;
  deliveries: number;
}
type Measure = keyof GatewayFigures;

export interface OverheadResult {
  clients: number;
  rounds: number;
  /** Every round's figures, in the order run. */
  offRounds: GatewayFigures[];
  onRounds: GatewayFigures[];
  loadAverage: { before: number[]; after: number[] };
  targets: { rssRatioMax: number; fanoutRatioMax: number };
}

const BENCH_ENV = { LOG_LEVEL: 'warn', NODE_ENV: 'development', HEARTBEAT_INTERVAL_MS: '5000', MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '0' };
const SUBSCRIBE = '{"type":"presence_subscribe"}';

/** Memory after full collections (RSS after a short settle, for freed pages to go back to the system; and the JS heap and off-heap memory). */
async function settled(proc: Proc): Promise<{ rss: number; js: number }> {
  const usage = await memoryAfterGc(proc.inspectPort!);
  await sleep(500);
  return { rss: rssBytes(proc.child.pid), js: usage.heapUsed + usage.external };
}

/** KB per client, from a growth in bytes. */
const kb = (bytes: number, count: number): number => Math.round((bytes / count / 1024) * 100) / 100;

interface Counter {
  frames: number;
  bytes: number;
}

async function openRaw(url: string, count: number, subscribe: boolean, counter: Counter): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  for (let from = 0; from < count; from += 100) {
    const batch = Array.from({ length: Math.min(100, count - from) }, async () => {
      const ws = new WebSocket(url);
      ws.on('message', (data: Buffer) => {
        counter.frames++;
        counter.bytes += data.length;
      });
      ws.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      if (subscribe) ws.send(SUBSCRIBE);
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

/** Waits until `counter` stopped moving for a second (the frames a step caused have arrived). */
async function quiet(counter: Counter): Promise<void> {
  for (let last = -1; counter.frames !== last; ) {
    last = counter.frames;
    await sleep(1000);
  }
}

/** The growth of the gateway's settled memory while `add` connects `count` clients, in KB per client. */
async function perConnectionKb(proc: Proc, count: number, counter: Counter, add: () => Promise<unknown>): Promise<{ rss: number; js: number }> {
  const before = await settled(proc);
  await add();
  await quiet(counter);
  const after = await settled(proc);
  return { rss: kb(after.rss - before.rss, count), js: kb(after.js - before.js, count) };
}

/** Share (%) of a profile's busy samples (neither idle nor the profiler's own) with a frame of presence code on their stack. */
export function presenceShare(profile: CpuProfile): number {
  const parent = new Map<number, number>();
  for (const node of profile.nodes as (CpuProfile['nodes'][number] & { children?: number[] })[]) for (const child of node.children ?? []) parent.set(child, node.id);
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const inPresence = new Map<number, boolean>();
  const presenceCode = (url: string) => /\/presence\/|\/presence([-.][^/]*)?\.js$/.test(url);
  const onStack = (id: number): boolean => {
    const known = inPresence.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id);
    const up = parent.get(id);
    const found = node !== undefined && (presenceCode(node.callFrame.url) || (up !== undefined && onStack(up)));
    inPresence.set(id, found);
    return found;
  };
  let busy = 0;
  let presence = 0;
  for (const id of profile.samples) {
    const name = byId.get(id)?.callFrame.functionName;
    if (name === '(idle)' || name === '(program)') continue;
    busy++;
    if (onStack(id)) presence++;
  }
  return busy === 0 ? 0 : Math.round((presence / busy) * 10000) / 100;
}

/** One gateway, presence on or off: its figures. */
async function measureGateway(options: OverheadOptions, presence: boolean, round: number): Promise<GatewayFigures> {
  const side = presence ? 'on' : 'off';
  const profile = options.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}/${side}`];
  const env = { ...BENCH_ENV, ...options.redisEnv, PRESENCE_ENABLED: String(presence), NODE_ID: 'bench-presence' };
  const { proc, port } = await startNode(`gateway-presence-${side}`, SWITCHBOARD_CLI, ['gateway'], env, '/readyz', { execArgv: profile });
  const raw: WebSocket[] = [];
  const sio: Socket[] = [];
  const counter: Counter = { frames: 0, bytes: 0 };
  const wsUrl = `ws://127.0.0.1:${port}/ws/analytics`;
  const sioUrl = `http://127.0.0.1:${port}`;
  const { clients } = options;
  try {
    // A first step warms the gateway up (JIT, first allocations); the next ones are measured.
    raw.push(...(await openRaw(wsUrl, clients, false, counter)));
    sio.push(...(await openSocketIo(sioUrl, Math.min(clients, 200))));
    const rawKb = await perConnectionKb(proc, clients, counter, async () => raw.push(...(await openRaw(wsUrl, clients, false, counter))));
    // Connected first, then subscribing once every diff of their joins went out (a probe
    // subscribed before them saw the diffs stop): no diff is news to them.
    const probe: Counter = { frames: 0, bytes: 0 };
    raw.push(...(await openRaw(wsUrl, 1, true, probe)));
    const subscribedFrom = counter.bytes;
    const subscribedKb = await perConnectionKb(proc, clients, counter, async () => {
      const step = await openRaw(wsUrl, clients, false, counter);
      raw.push(...step);
      // Their diffs begin (at most 5 s: with presence off none comes), then end.
      for (let waited = 0, seen = probe.frames; probe.frames === seen && waited < 5000; waited += 100) await sleep(100);
      await quiet(probe);
      for (const ws of step) ws.send(SUBSCRIBE);
    });
    const subscribedMb = Math.round((counter.bytes - subscribedFrom) / 1e5) / 10;
    const socketIoKb = await perConnectionKb(proc, clients, counter, async () => sio.push(...(await openSocketIo(sioUrl, clients))));
    const bytesBefore = counter.bytes;
    // Off, these clients are answered an error and stay as plain ones: the same connections either way.
    const burstKb = await perConnectionKb(proc, clients, counter, async () => raw.push(...(await openRaw(wsUrl, clients, true, counter))));
    const burstMb = Math.round((counter.bytes - bytesBefore) / 1e5) / 10;
    const fanout = await measureFanout(options, proc, raw.length, counter, `${side}-round${round + 1}`);
    return {
      rawKb: rawKb.rss,
      rawJsKb: rawKb.js,
      subscribedKb: subscribedKb.rss,
      subscribedJsKb: subscribedKb.js,
      subscribedMb,
      socketIoKb: socketIoKb.rss,
      socketIoJsKb: socketIoKb.js,
      burstKb: burstKb.rss,
      burstJsKb: burstKb.js,
      burstMb,
      ...fanout,
    };
  } finally {
    for (const ws of raw) ws.terminate();
    for (const socket of sio) socket.close();
    await proc.stop();
  }
}

/** Frames committed on the analytics channel at a fixed rate: the gateway's CPU per delivery, and what its profile spends in presence. */
async function measureFanout(
  options: OverheadOptions,
  proc: Proc,
  clients: number,
  counter: Counter,
  label: string,
): Promise<Pick<GatewayFigures, 'fanoutUsPerDelivery' | 'fanoutPresencePct' | 'deliveries' | 'idleCpuPct'>> {
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
    let used = 0;
    // Sampled every millisecond, on both sides alike: the profiler's own cost is in both figures.
    const profile = await profiled(
      proc.inspectPort!,
      async () => {
        const cpu = cpuSeconds(proc.child.pid);
        await publish(frames);
        // Every client has every frame (or 10 s passed).
        const expected = received + frames * clients;
        for (let waited = 0; counter.frames < expected && waited < 10_000; waited += 100) await sleep(100);
        used = cpuSeconds(proc.child.pid) - cpu;
      },
      1000,
    );
    if (options.profileDir !== undefined) {
      mkdirSync(options.profileDir, { recursive: true });
      writeFileSync(`${options.profileDir}/fanout-${label}.cpuprofile`, JSON.stringify(profile));
    }
    const deliveries = counter.frames - received;
    return { fanoutUsPerDelivery: Math.round((used / Math.max(1, deliveries)) * 1e6 * 1000) / 1000, fanoutPresencePct: presenceShare(profile), deliveries, idleCpuPct };
  } finally {
    await engine.close();
  }
}

const load = (): number[] => loadavg().map((v) => Math.round(v * 100) / 100);

/** Off and on, `rounds` times each, the order swapped every round. */
export async function measurePresenceOverhead(options: OverheadOptions, log: (line: string) => void): Promise<OverheadResult> {
  const offRounds: GatewayFigures[] = [];
  const onRounds: GatewayFigures[] = [];
  const before = load();
  for (let round = 0; round < options.rounds; round++) {
    for (const presence of round % 2 === 0 ? [false, true] : [true, false]) {
      const figures = await measureGateway(options, presence, round);
      (presence ? onRounds : offRounds).push(figures);
      log(`round ${round + 1} presence ${presence ? 'on: ' : 'off:'} ${JSON.stringify(figures)} (load ${load().join(' ')})\n`);
    }
  }
  return { clients: options.clients, rounds: options.rounds, offRounds, onRounds, loadAverage: { before, after: load() }, targets: { rssRatioMax: 1.1, fanoutRatioMax: 1.05 } };
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = (sorted.length - 1) / 2;
  return ((sorted[Math.floor(mid)] ?? 0) + (sorted[Math.ceil(mid)] ?? 0)) / 2;
};
const r2 = (value: number) => Math.round(value * 100) / 100;

/** The overhead section of bench/results/presence-latest.md. */
export function overheadMarkdown(result: OverheadResult, fanoutRate: number, fanoutS: number): string[] {
  const { offRounds, onRounds, rounds, clients, loadAverage } = result;
  const values = (runs: GatewayFigures[], measure: Measure) => runs.map((figures) => figures[measure]);
  const spread = (runs: GatewayFigures[], measure: Measure) => {
    const v = values(runs, measure);
    return `${r2(median(v))} (${r2(Math.min(...v))}–${r2(Math.max(...v))})`;
  };
  const pct = (ratio: number) => (Number.isFinite(ratio) ? `${ratio >= 1 ? '+' : ''}${Math.round((ratio - 1) * 1000) / 10} %` : 'n/a');
  const row = (label: string, measure: Measure, target?: number) => {
    const ratio = median(values(onRounds, measure)) / median(values(offRounds, measure));
    // Each round's own ratio (its two gateways ran back to back).
    const paired = onRounds.map((on, i) => on[measure] / (offRounds[i]?.[measure] ?? NaN)).filter(Number.isFinite);
    const pairs = paired.length === 0 ? '' : `${pct(Math.min(...paired))} … ${pct(Math.max(...paired))}`;
    let verdict = '';
    if (target !== undefined) {
      verdict = ratio <= target ? 'met' : 'MISSED';
      if (paired.some((p) => p <= target) && paired.some((p) => p > target)) verdict += ' (rounds straddle the target: noise ≥ effect)';
    }
    return `| ${label} | ${spread(offRounds, measure)} | ${spread(onRounds, measure)} | ${pct(ratio)} | ${pairs} | ${target === undefined ? '' : `≤ ${pct(target)}`} | ${verdict} |`;
  };
  return [
    '## What presence costs a gateway',
    '',
    `One gateway with \`PRESENCE_ENABLED=false\` and one with presence on, ${rounds} rounds (the order swapped every round), ${clients} clients per measured step; load average ${loadAverage.before.join(' ')} before, ${loadAverage.after.join(' ')} after. Each figure is the median of the rounds (their range in brackets); "rounds" is each round's own on / off ratio, lowest … highest. RSS and JS heap per connection are the growth of the gateway's memory (after full collections) over one step. Fan-out is the gateway's CPU time (its /proc counters) per frame delivered while frames are committed on \`sb:ch:analytics\` at ${fanoutRate}/s for ${fanoutS} s to every raw client (${median(values(offRounds, 'deliveries'))} / ${median(values(onRounds, 'deliveries'))} deliveries), profiled alone: "presence on the stack" is the share of that profile's busy samples with presence code anywhere on the stack.`,
    '',
    '| measure | presence off | presence on | on / off | rounds | target | verdict |',
    '|---|---|---|---|---|---|---|',
    row('RSS per idle raw connection (KB), not asking', 'rawKb', 1.1),
    row('RSS per idle raw connection (KB), `presence_subscribe` once connected', 'subscribedKb', 1.1),
    row('RSS per idle Socket.IO connection (KB)', 'socketIoKb', 1.1),
    row('RSS per raw connection (KB), subscribing as it connects, in a burst', 'burstKb', 1.1),
    row('JS heap + external per idle raw connection (KB), not asking', 'rawJsKb'),
    row('JS heap + external per idle raw connection (KB), subscribed once connected', 'subscribedJsKb'),
    row('JS heap + external per idle Socket.IO connection (KB)', 'socketIoJsKb'),
    row('JS heap + external per raw connection (KB), burst', 'burstJsKb'),
    row('MB received by the clients subscribing once connected', 'subscribedMb'),
    row('MB received by the burst step\'s clients', 'burstMb'),
    row('gateway CPU at rest, every client connected (% of a core)', 'idleCpuPct'),
    row('fan-out, gateway CPU µs per delivery', 'fanoutUsPerDelivery', 1.05),
    row('fan-out, presence on the stack (% of busy samples)', 'fanoutPresencePct'),
    '',
  ];
}
