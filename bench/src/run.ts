#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [--only a,b] [--scenarios fanout,latency,...] [--profile]`
 *
 * Starts each system in turn — Switchboard (redis-server, two gateways, a worker) and the
 * baselines (bare uWebSockets.js, `ws`, single-node Socket.IO, a two-node Socket.IO cluster on
 * the Redis adapter) — drives the same workloads against each from multi-process load
 * generators, and writes bench/results/latest.{json,md,svg}. See bench/README.md.
 */
import { readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderChart } from './chart.js';
import { churnRun, restartRun, type DisruptionResult } from './churn.js';
import { INGEST_SYSTEMS, type IngestFigures } from './ingest.js';
import { memoryAfterGc, type MemoryUsage } from './lib/inspector.js';
import { CpuMeter, rssBytes, sleep, type Proc } from './lib/proc.js';
import { Status } from './lib/status.js';
import { LoaderPool, MAX_SOCKETS_PER_LOADER } from './load/pool.js';
import { rolesOf, summarizeProfilesIn, type HotFunction } from './profile.js';
import { padFor } from './publish.js';
import { computeRatios, evaluateTargets, markdownTables, markdownTargets, type Entry, type Scenario } from './results.js';
import { fanoutRun, latencyRun, quiesce, summarize } from './runs.js';
import { SESSIONS, type Session, type SessionSpec, type Variant } from './systems.js';

interface Preset {
  name: 'quick' | 'full';
  tiers: number[];
  sizes: number[];
  warmupMs: number;
  durationMs: number;
  /** Pause after connecting, before RSS is read (lets allocations and GC settle). */
  settleMs: number;
  latency: { clients: number; rates: number[]; durationMs: number };
  rooms: { clients: number; rooms: number };
  /**
   * wrk: keep-alive connections and seconds per system; `rounds` > 1 runs the systems again in
   * reverse order and keeps each one's best (a shared machine's load drifts during a run).
   */
  ingest: { connections: number; seconds: number; rounds: number };
  /** Clients drop for `downMs` about every `everyMs` (± 30 %) while `rate` messages/s flow. */
  churn: { clients: number; rate: number; durationMs: number; everyMs: number; downMs: number };
  /** Every gateway restarted in turn, `pauseMs` apart, while `rate` messages/s flow. */
  restart: { clients: number; rate: number; pauseMs: number };
}

const PRESETS: Record<Preset['name'], Preset> = {
  quick: {
    name: 'quick',
    tiers: [100, 500],
    sizes: [100, 1024],
    warmupMs: 250,
    durationMs: 1000,
    settleMs: 700,
    latency: { clients: 500, rates: [100], durationMs: 1500 },
    rooms: { clients: 500, rooms: 4 },
    ingest: { connections: 32, seconds: 10, rounds: 1 },
    churn: { clients: 300, rate: 20, durationMs: 20_000, everyMs: 15_000, downMs: 2000 },
    restart: { clients: 300, rate: 20, pauseMs: 3000 },
  },
  full: {
    name: 'full',
    tiers: [1000, 5000, 20_000],
    sizes: [100, 1024],
    warmupMs: 500,
    durationMs: 2500,
    settleMs: 2000,
    latency: { clients: 10_000, rates: [1000, 20], durationMs: 4000 },
    rooms: { clients: 5000, rooms: 4 },
    ingest: { connections: 32, seconds: 15, rounds: 2 },
    churn: { clients: 5000, rate: 20, durationMs: 60_000, everyMs: 15_000, downMs: 2000 },
    restart: { clients: 5000, rate: 20, pauseMs: 5000 },
  },
};

const ALL_SCENARIOS: Scenario[] = ['fanout', 'latency', 'capacity', 'ramp', 'rooms', 'ingest', 'churn', 'restart'];
const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    scenarios: { type: 'string' },
    clients: { type: 'string' },
    loaders: { type: 'string' },
    rates: { type: 'string' },
    'latency-clients': { type: 'string' },
    'churn-clients': { type: 'string' },
    'churn-seconds': { type: 'string' },
    'ingest-seconds': { type: 'string' },
    'ingest-rounds': { type: 'string' },
    profile: { type: 'boolean', default: false },
    deflate: { type: 'boolean', default: false },
    out: { type: 'string', default: RESULTS_DIR },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench -- [options]
  --quick              small preset (about 6 minutes); default is the full preset
  --only a,b           sessions: ${SESSIONS.map((s) => s.id).join(', ')}
  --scenarios a,b      ${ALL_SCENARIOS.join(', ')}
  --clients 1000,5000  fan-out client counts (overrides the preset)
  --rates 1000,20      latency scenario: messages per second (overrides the preset)
  --latency-clients N  latency scenario: clients (overrides the preset)
  --churn-clients N    churn and rolling-restart scenarios: clients (overrides the preset)
  --churn-seconds N    churn scenario: seconds of publishing (overrides the preset)
  --ingest-seconds N   ingest scenario: seconds of wrk per system (overrides the preset)
  --ingest-rounds N    ingest scenario: rounds (alternating order; each system's best is kept)
  --loaders N          load-generator processes (default: 2, more when needed)
  --deflate            raw WebSocket clients offer permessage-deflate (as browsers do)
  --profile            run the gateways and the worker (and the ingest systems' processes) with --cpu-prof and print their hottest functions
  --out DIR            where latest.{json,md,svg} go (default bench/results)
`);
  process.exit(0);
}

const preset: Preset = structuredClone(PRESETS[args.quick ? 'quick' : 'full']);
if (args.clients !== undefined) preset.tiers = args.clients.split(',').map(Number);
if (args.rates !== undefined) preset.latency.rates = args.rates.split(',').map(Number);
if (args['latency-clients'] !== undefined) preset.latency.clients = Number(args['latency-clients']);
if (args['churn-clients'] !== undefined) preset.churn.clients = preset.restart.clients = Number(args['churn-clients']);
if (args['churn-seconds'] !== undefined) preset.churn.durationMs = Number(args['churn-seconds']) * 1000;
if (args['ingest-seconds'] !== undefined) preset.ingest.seconds = Number(args['ingest-seconds']);
if (args['ingest-rounds'] !== undefined) preset.ingest.rounds = Number(args['ingest-rounds']);
const scenarios = new Set<Scenario>(args.scenarios === undefined ? ALL_SCENARIOS : (args.scenarios.split(',') as Scenario[]));
const onlySessions = args.only?.split(',');
const sessions = SESSIONS.filter((s) => onlySessions === undefined || onlySessions.includes(s.id)).filter((s) => s.scenarios === undefined || s.scenarios.some((x) => scenarios.has(x)));
/** Whether this system takes part in this scenario in this run. */
const runs = (spec: SessionSpec, scenario: Scenario) => scenarios.has(scenario) && (spec.scenarios === undefined || spec.scenarios.includes(scenario));
/** Systems that are disrupted: the churn baselines and both Switchboard products. */
const CHURN_SESSIONS = new Set(['switchboard', 'switchboard-sio', 'uws-bare', 'socketio-single', 'socketio-recovery']);
const RESTART_SESSIONS = new Set(['switchboard', 'switchboard-sio']);
const ingestRuns = scenarios.has('ingest') && (onlySessions === undefined || onlySessions.some((id) => id.startsWith('switchboard') || id.startsWith('ingest')));

/** One process may hold this many connections: the open-file limit less some headroom. */
function connectionCap(): number {
  const match = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  const limit = match?.[1] === undefined || match[1] === 'unlimited' ? 1_000_000 : Number(match[1]);
  return limit - 500;
}
const cap = connectionCap();
const capped = (n: number) => Math.min(n, cap);
preset.tiers = [...new Set(preset.tiers.map(capped))];
preset.latency.clients = capped(preset.latency.clients);
preset.rooms.clients = capped(preset.rooms.clients);

const caseName = (clients: number, extra: string) => `${clients.toLocaleString('en-US')} clients, ${extra}`;
const sizeName = (bytes: number) => (bytes >= 1024 ? `${bytes / 1024} KB` : `${bytes} B`);

/** The client counts a session visits, largest first (clients are closed between them). */
function pointsFor(spec: SessionSpec): number[] {
  const points = new Set<number>();
  if (runs(spec, 'fanout') || runs(spec, 'capacity') || runs(spec, 'ramp')) for (const t of preset.tiers) points.add(t);
  if (runs(spec, 'latency')) points.add(preset.latency.clients);
  if (runs(spec, 'rooms') && spec.kind === 'sio') points.add(preset.rooms.clients);
  return [...points].sort((a, b) => b - a);
}

function countSteps(): number {
  let steps = ingestRuns ? INGEST_SYSTEMS.length * preset.ingest.rounds : 0;
  for (const spec of sessions) {
    const variants = spec.id === 'switchboard' ? 2 : 1;
    steps += 1; // start
    if (pointsFor(spec).length > 0) steps += 1; // connect
    if (runs(spec, 'fanout')) steps += preset.tiers.length * preset.sizes.length * variants;
    if (runs(spec, 'latency')) steps += preset.latency.rates.length * variants;
    if (runs(spec, 'rooms') && spec.kind === 'sio') steps += 1 + variants;
    if (runs(spec, 'churn') && CHURN_SESSIONS.has(spec.id)) steps += 1;
    if (runs(spec, 'restart') && RESTART_SESSIONS.has(spec.id)) steps += 1;
  }
  return steps;
}

const entries: Entry[] = [];
const profiles: Record<string, HotFunction[]> = {};
const status = new Status(countSteps());
preset.churn.clients = capped(preset.churn.clients);
preset.restart.clients = capped(preset.restart.clients);
const maxClients = Math.max(...sessions.map((s) => pointsFor(s)[0] ?? 0), preset.churn.clients, 1);
const loaders = Math.max(Number(args.loaders ?? 2), Math.ceil(maxClients / MAX_SOCKETS_PER_LOADER));
const pool = await LoaderPool.start(loaders);
const profileRoot = `${args.out}/profiles`;
const startedAt = new Date();

const meters = new Map<Session, CpuMeter>();
/** The system running now: stopped with the load generators when the run is interrupted. */
let active: Session | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    status.note(`${signal}: stopping the load generators and ${active?.id ?? 'no system'}`);
    void Promise.allSettled([pool.close(), active?.stop()]).then(() => process.exit(130));
  });
}
const add = (entry: Omit<Entry, 'ratios'>) => {
  entries.push({ ...entry, ratios: {} });
};

async function runSession(spec: SessionSpec): Promise<void> {
  status.begin(`${spec.id}: starting`);
  const profileDir = args.profile ? `${profileRoot}/${spec.id}` : undefined;
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
  const session = await spec.start(profileDir === undefined ? {} : { profileDir });
  active = session;
  try {
    const cpu = new CpuMeter({
      ...Object.fromEntries(Object.entries(session.processes).map(([role, procs]) => [role, procs.map((p) => p.pid)])),
      load_generators: pool.pids,
      harness: [process.pid],
    });
    meters.set(session, cpu);

    if (runs(spec, 'churn') && CHURN_SESSIONS.has(spec.id) && session.disruption !== undefined) await churn(session);

    const points = pointsFor(spec);
    if (points.length > 0) await connectAndMeasure(spec, session, points);
    await pool.shrinkTo(0);
    // Last: it replaces the gateway processes.
    if (runs(spec, 'restart') && RESTART_SESSIONS.has(spec.id) && session.restartGateway !== undefined) await restart(session);
  } finally {
    status.update(`${spec.id}: stopping`);
    await pool.churnClose();
    await pool.shrinkTo(0);
    await session.stop();
    active = undefined;
    if (profileDir !== undefined) Object.assign(profiles, summarizeProfilesIn(profileDir, spec.id, rolesOf(session.processes), 'gateways'));
  }
}

/**
 * Memory of each connection holder after full garbage collections (through its inspector) and a
 * short settle; RSS read at a random moment moves with the collector by more than the idle
 * connections take. Processes without an inspector fall back to their current RSS.
 */
async function settledMemory(procs: Proc[]): Promise<MemoryUsage[]> {
  return Promise.all(
    procs.map(async (p) => {
      if (p.inspectPort === undefined) return { rss: rssBytes(p.pid), heapUsed: 0, external: 0, arrayBuffers: 0 };
      const usage = await memoryAfterGc(p.inspectPort);
      // Freed pages go back to the system shortly after the collection.
      await sleep(500);
      return { ...usage, rss: rssBytes(p.pid) };
    }),
  );
}

/** Connects the fan-out clients and runs the fan-out, latency, capacity, ramp and rooms scenarios. */
async function connectAndMeasure(spec: SessionSpec, session: Session, points: number[]): Promise<void> {
    // Connect in two halves: the ramp counts both, RSS per connection is the second half's
    // marginal cost (start-up, JIT and first-connection allocations stay out of it).
    const total = points[0]!;
    const half = Math.floor(total / 2);
    status.begin(`${spec.id}: connecting ${total} clients`);
    const first = await pool.connect(session.kind, session.clientUrls, half, { deflate: args.deflate });
    await sleep(preset.settleMs);
    const before = await settledMemory(session.connectionHolders);
    const second = await pool.connect(session.kind, session.clientUrls, total - half, { deflate: args.deflate });
    const connected = { ok: first.ok + second.ok, failed: first.failed + second.failed, ms: first.ms + second.ms, errors: [...first.errors, ...second.errors] };
    if (connected.failed > 0) status.note(`${spec.id}: ${connected.failed} connections failed: ${connected.errors.join('; ')}`);
    const seconds = connected.ms / 1000;
    const kindName = spec.kind === 'ws' ? 'raw WebSocket' : 'Socket.IO';
    if (runs(spec, 'ramp')) {
      add({
        scenario: 'ramp', key: `ramp:${spec.kind}`, case: `${kindName}, ${total.toLocaleString('en-US')} connections`, system: spec.id, label: spec.label,
        baseline: isBaselineSession(spec), metric: 'connections_per_s', unit: 'conn/s', better: 'higher', value: Math.round(connected.ok / seconds),
        figures: { connections: connected.ok, seconds: Math.round(seconds * 100) / 100, failed: connected.failed, errors: connected.errors },
      });
    }
    await sleep(preset.settleMs);
    const after = await settledMemory(session.connectionHolders);
    if (runs(spec, 'capacity') && second.ok > 0) {
      const growth = (of: (m: MemoryUsage) => number) => after.reduce((n, m, i) => n + of(m) - of(before[i]!), 0);
      const delta = growth((m) => m.rss);
      const rssBefore = before.map((m) => m.rss);
      const rssAfter = after.map((m) => m.rss);
      add({
        scenario: 'capacity', key: `capacity:${spec.kind}`, case: `${kindName}, idle`, system: spec.id, label: spec.label,
        baseline: isBaselineSession(spec), metric: 'rss_per_connection_kb', unit: 'KB', better: 'lower',
        value: Math.round((delta / second.ok / 1024) * 100) / 100,
        figures: {
          connections: connected.ok, measured_over: second.ok, processes: session.connectionHolders.length,
          connections_per_process: Math.round(connected.ok / session.connectionHolders.length),
          rss_mb_before: Math.round(rssBefore.reduce((a, b) => a + b, 0) / 2 ** 20), rss_mb_after: Math.round(rssAfter.reduce((a, b) => a + b, 0) / 2 ** 20),
          // The JavaScript side of it: live heap and off-heap buffers after a full collection.
          heap_external_per_connection_kb: Math.round((growth((m) => m.heapUsed + m.external) / second.ok / 1024) * 100) / 100,
          failed: connected.failed, per_process_limit: cap,
        },
      });
    }

    for (const clients of points) {
      await pool.shrinkTo(clients);
      if (runs(spec, 'fanout') && preset.tiers.includes(clients)) {
        for (const size of preset.sizes) for (const v of session.variants) await fanout(session, v, clients, size);
      }
      if (runs(spec, 'latency') && clients === preset.latency.clients) {
        // Lowest rate first: a saturating rate leaves a backlog behind (filtered out, but it costs CPU).
        const rates = [...preset.latency.rates].sort((a, b) => a - b);
        for (const rate of rates) for (const v of session.variants) await latency(session, v, clients, rate);
      }
      if (runs(spec, 'rooms') && spec.kind === 'sio' && clients === preset.rooms.clients) await rooms(session, clients);
    }
}

/**
 * Burst size and window (messages ahead of the slowest client): at most `max`, and no more than
 * ~1M deliveries outstanding, so the final drain stays short at 20k clients.
 */
const windowFor = (clients: number, batch: number, max: number) => ({
  batch,
  window: Math.max(2 * batch, Math.min(max, Math.floor(1_000_000 / clients / batch) * batch)),
});

const isBaselineSession = (spec: SessionSpec) => !spec.id.startsWith('switchboard');
const frameBytes = (v: Variant, size: number) => Buffer.byteLength(v.frame({ seq: 123_456, t: 1_700_000_000_000.123, pad: padFor(size), service: 'svc-1' }));

async function fanout(session: Session, v: Variant, clients: number, size: number): Promise<void> {
  status.begin(`${session.id}: fan-out ${clients} clients × ${sizeName(size)} · ${v.id}`);
  const publisher = v.publisher();
  await publisher.ready?.();
  const r = await fanoutRun({
    pool, publisher, clients, pad: padFor(size), rooms: preset.rooms.rooms, event: 'error:new', cpu: meters.get(session)!,
    ...windowFor(clients, size >= 1024 ? 16 : 32, size >= 1024 ? 64 : 128), warmupMs: preset.warmupMs, durationMs: preset.durationMs,
  });
  await publisher.close();
  status.note(`  ${v.id.padEnd(20)} fan-out ${caseName(clients, sizeName(size)).padEnd(22)} ${r.deliveries_per_s.toLocaleString('en-US').padStart(11)} deliveries/s`);
  add({
    scenario: 'fanout', key: `fanout:${clients}:${size}`, case: caseName(clients, sizeName(size)), system: v.id, label: v.label, baseline: v.baseline,
    metric: 'deliveries_per_s', unit: 'deliveries/s', better: 'higher', value: r.deliveries_per_s,
    figures: { ...r, clients, payload_bytes: size, frame_bytes: frameBytes(v, size) },
  });
  await quiesce(pool);
}

async function latency(session: Session, v: Variant, clients: number, rate: number): Promise<void> {
  status.begin(`${session.id}: latency ${clients} clients at ${rate} msg/s · ${v.id}`);
  const publisher = v.publisher();
  await publisher.ready?.();
  const size = 100;
  const r = await latencyRun({
    pool, publisher, clients, pad: padFor(size), rooms: preset.rooms.rooms, event: 'error:new', cpu: meters.get(session)!,
    rate, durationMs: preset.latency.durationMs, maxBacklog: Math.max(50, Math.min(rate / 2, 65_536 / frameBytes(v, size))),
  });
  await publisher.close();
  status.note(`  ${v.id.padEnd(20)} latency ${caseName(clients, `${rate} msg/s`).padEnd(22)} p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  ${r.status}`);
  add({
    scenario: 'latency', key: `latency:${clients}:${rate}`, case: caseName(clients, `${rate} msg/s, ${sizeName(size)}`), system: v.id, label: v.label, baseline: v.baseline,
    metric: 'p99_ms', unit: 'ms', better: 'lower', value: r.p99_ms, figures: { ...r, clients },
  });
  await quiesce(pool);
}

async function rooms(session: Session, clients: number): Promise<void> {
  const { rooms: count } = preset.rooms;
  status.begin(`${session.id}: ${clients} clients join ${count} rooms (acks)`);
  const joined = await pool.join('subscribe:service', 'svc-', count);
  if (joined.failed > 0) status.note(`${session.id}: ${joined.failed} joins not acknowledged`);
  const acks = summarize(joined.acks);
  for (const v of session.variants) {
    status.begin(`${session.id}: rooms, ${clients} clients in ${count} rooms · ${v.id}`);
    const publisher = v.publisher();
    await publisher.ready?.();
    const size = 100;
    const r = await fanoutRun({
      pool, publisher, clients, pad: padFor(size), rooms: count, event: 'error:new', roomEvent: 'error:service', cpu: meters.get(session)!,
      ...windowFor(clients, 32, 128), warmupMs: preset.warmupMs, durationMs: preset.durationMs,
    });
    await publisher.close();
    status.note(`  ${v.id.padEnd(20)} rooms   ${caseName(clients, `${count} rooms`).padEnd(22)} ${r.room_deliveries_per_s.toLocaleString('en-US').padStart(11)} room deliveries/s`);
    add({
      scenario: 'rooms', key: `rooms:${clients}:${count}`, case: caseName(clients, `${count} rooms`), system: v.id, label: v.label, baseline: v.baseline,
      metric: 'room_deliveries_per_s', unit: 'deliveries/s', better: 'higher', value: r.room_deliveries_per_s,
      figures: {
        ...r, clients, rooms: count, joined: joined.ok, join_failed: joined.failed, join_seconds: Math.round(joined.ms) / 1000,
        ack_p50_ms: acks.p50_ms, ack_p99_ms: acks.p99_ms, room_p50_ms: r.latency_sampled.p50_ms, room_p99_ms: r.latency_sampled.p99_ms,
      },
    });
    await quiesce(pool);
  }
  await pool.join('unsubscribe:service', 'svc-', count);
}

/** The figures of a churn or restart run, flat (the tables read them by name). */
const disruptionFigures = (r: DisruptionResult) => {
  const { reconnect, ...rest } = r;
  // A system that resumed nothing replayed nothing: its few samples are messages that were in
  // flight while the client dialled, not a replay.
  const replay = r.recovered > 0 ? r.replay : { ...r.replay, samples: 0 };
  return {
    ...rest,
    replay_p50_ms: replay.samples > 0 ? replay.p50_ms : null, replay_p99_ms: replay.samples > 0 ? replay.p99_ms : null, replay_samples: replay.samples,
    reconnect_p50_ms: reconnect.samples > 0 ? reconnect.p50_ms : null, reconnect_p99_ms: reconnect.samples > 0 ? reconnect.p99_ms : null, reconnect_samples: reconnect.samples,
  };
};

const disruptionOptions = (session: Session, clients: number, rate: number) => {
  const d = session.disruption!;
  return {
    pool, publisher: d.publisher(), kind: session.kind, urls: session.clientUrls, clients, resume: d.resume, rate, pad: padFor(100),
    cpu: meters.get(session)!, progress: (line: string) => status.note(line),
  };
};

async function churn(session: Session): Promise<void> {
  const c = preset.churn;
  status.begin(`${session.id}: churn, ${c.clients} clients dropping ${c.downMs / 1000} s every ~${c.everyMs / 1000} s, ${c.rate} msg/s for ${c.durationMs / 1000} s`);
  const options = disruptionOptions(session, c.clients, c.rate);
  const r = await churnRun({ ...options, durationMs: c.durationMs, everyMs: c.everyMs, downMs: c.downMs });
  await options.publisher.close();
  status.note(
    `  ${session.id.padEnd(20)} churn   ${r.delivered_pct}% delivered, ${r.duplicates} duplicates, replay p50/p99 ${r.replay.samples > 0 && r.recovered > 0 ? `${r.replay.p50_ms}/${r.replay.p99_ms} ms` : 'n/a'} (${r.drops} drops, ${r.server_closes} closed by the server, ${r.recovered} resumed, ${r.not_recovered} not)`,
  );
  add({
    scenario: 'churn', key: `churn:${c.clients}:${c.rate}`, case: caseName(c.clients, `${c.rate} msg/s, each away ${c.downMs / 1000} s every ~${c.everyMs / 1000} s`),
    system: session.id, label: session.disruption!.label, baseline: isBaselineId(session.id), metric: 'delivered_pct', unit: '%', better: 'higher', value: r.delivered_pct,
    figures: { ...disruptionFigures(r), rate_per_s: c.rate, duration_s: c.durationMs / 1000, every_s: c.everyMs / 1000, down_s: c.downMs / 1000 },
  });
}

async function restart(session: Session): Promise<void> {
  const c = preset.restart;
  const gateways = session.gatewayUrls.length;
  status.begin(`${session.id}: rolling restart of ${gateways} gateways, ${c.clients} clients, ${c.rate} msg/s`);
  const options = disruptionOptions(session, c.clients, c.rate);
  const r = await restartRun({ ...options, gateways, pauseMs: c.pauseMs, restart: (i) => session.restartGateway!(i) });
  await options.publisher.close();
  status.note(
    `  ${session.id.padEnd(20)} restart ${r.reconnected_pct}% back, reconnect p50/p99 ${r.reconnect.p50_ms}/${r.reconnect.p99_ms} ms, ${r.lost_per_client} lost per client, ${r.duplicates} duplicates, ${r.recovered} resumed, ${r.not_recovered} not, ${r.failed_attempts} failed dials`,
  );
  add({
    scenario: 'restart', key: `restart:${c.clients}:${c.rate}`, case: caseName(c.clients, `${c.rate} msg/s, ${gateways} gateways restarted in turn`),
    system: session.id, label: session.disruption!.label, baseline: false, metric: 'delivered_pct', unit: '%', better: 'higher', value: r.delivered_pct,
    // No CPU figures: the gateways' processes are replaced during the run.
    figures: { ...disruptionFigures(r), cpu_pct: undefined, rate_per_s: c.rate, gateways },
  });
}

const isBaselineId = (id: string) => !id.startsWith('switchboard');

async function ingest(): Promise<void> {
  const { connections, seconds, rounds } = preset.ingest;
  const ingestCase = `wrk, ${connections} connections, ${seconds} s`;
  const best = new Map<string, IngestFigures & { value: number; rounds: number[] }>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? INGEST_SYSTEMS : [...INGEST_SYSTEMS].reverse();
    for (const system of order) {
      status.begin(`ingest: ${system.id}, ${ingestCase}${rounds > 1 ? `, round ${round + 1}/${rounds}` : ''}`);
      const meter = (groups: Record<string, Proc[]>) =>
        new CpuMeter({ ...Object.fromEntries(Object.entries(groups).map(([role, procs]) => [role, procs.map((p) => p.pid)])), harness: [process.pid] });
      // The systems' own processes profiled (the baselines' servers too, for comparison).
      const profileDir = args.profile ? `${profileRoot}/ingest-${round + 1}/${system.id}` : undefined;
      if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
      try {
        const { processes, ...r } = await system.run(connections, seconds, meter, profileDir);
        if (profileDir !== undefined) Object.assign(profiles, summarizeProfilesIn(profileDir, `ingest-${round + 1}/${system.id}`, rolesOf(processes), 'gateway'));
        const value = r.delivered_per_s ?? r.requests_per_s;
        status.note(`  ${system.id.padEnd(20)} ingest  ${value.toLocaleString('en-US').padStart(9)} events/s${r.delivered_per_s === undefined ? '' : ` delivered (${r.requests_per_s.toLocaleString('en-US')} accepted/s)`}, POST p99 ${r.p99_ms} ms`);
        const previous = best.get(system.id);
        const all = [...(previous?.rounds ?? []), value];
        if (previous === undefined || value > previous.value) best.set(system.id, { ...r, value, rounds: all });
        else previous.rounds = all;
      } catch (err) {
        failed = true;
        status.note(`ingest ${system.id}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }
  for (const system of INGEST_SYSTEMS) {
    const r = best.get(system.id);
    if (r === undefined) continue;
    const { value, ...figures } = r;
    add({
      scenario: 'ingest', key: 'ingest', case: ingestCase, system: system.id, label: system.label, baseline: system.baseline,
      metric: 'events_per_s', unit: 'events/s', better: 'higher', value, figures: { ...figures, connections, seconds },
    });
  }
}

let failed = false;
try {
  if (ingestRuns) await ingest();
  for (const spec of sessions) {
    try {
      await runSession(spec);
    } catch (err) {
      failed = true;
      status.note(`${spec.id}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
} finally {
  await pool.close();
  status.done();
}

computeRatios(entries);
const targets = evaluateTargets(entries);
const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, open files ${cap + 500}`;
const subtitle = `${command} · ${startedAt.toISOString()} · ${machine}`;
const tables = markdownTables(entries);
const targetTable = markdownTargets(targets);
const hot = Object.entries(profiles)
  .map(([name, fns]) => [`#### ${name}`, '', '| self % | function | where |', '|---:|---|---|', ...fns.map((f) => `| ${f.self_pct} | ${f.function} | ${f.where} |`), ''].join('\n'))
  .join('\n');
const markdown = [`## Results`, '', `\`${command}\` — ${startedAt.toISOString()} — ${machine}`, '', tables, '### Targets', '', targetTable, hot ? `### CPU profiles (gateways, worker)\n\n${hot}` : ''].join('\n');

mkdirSync(args.out, { recursive: true });
writeFileSync(
  `${args.out}/latest.json`,
  `${JSON.stringify({ command, date: startedAt.toISOString(), machine, preset, entries, targets, profiles }, null, 2)}\n`,
);
writeFileSync(`${args.out}/latest.md`, markdown);
writeFileSync(`${args.out}/latest.svg`, renderChart(entries, subtitle));
process.stdout.write(`${markdown}\nwrote ${args.out}/latest.json, latest.md, latest.svg\n`);
process.exit(failed ? 1 : 0);
