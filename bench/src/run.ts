#!/usr/bin/env node
/**
 * `npm run bench [-- --quick] [--only a,b] [--scenarios fanout,latency,...] [--profile]`
 *
 * Starts each system in turn — Switchboard (redis-server, two gateways, a worker) and the
 * baselines (bare uWebSockets.js, `ws`, single-node Socket.IO, a two-node Socket.IO cluster on
 * the Redis adapter) — drives the same workloads against each from multi-process load
 * generators, and writes bench/results/latest.{json,md,svg}. See bench/README.md.
 */
import { readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderChart } from './chart.js';
import { ingestRun } from './ingest.js';
import { CpuMeter, rssBytes, sleep } from './lib/proc.js';
import { Status } from './lib/status.js';
import { LoaderPool, MAX_SOCKETS_PER_LOADER } from './load/pool.js';
import { profilesIn, summarizeProfile, type HotFunction } from './profile.js';
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
  ingest: { events: number; connections: number };
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
    ingest: { events: 2000, connections: 32 },
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
    ingest: { events: 20_000, connections: 64 },
  },
};

const ALL_SCENARIOS: Scenario[] = ['fanout', 'latency', 'capacity', 'ramp', 'rooms', 'ingest'];
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
    profile: { type: 'boolean', default: false },
    deflate: { type: 'boolean', default: false },
    out: { type: 'string', default: RESULTS_DIR },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (args.help) {
  process.stdout.write(`npm run bench -- [options]
  --quick              small preset (< 2 minutes; CI smoke); default is the full preset
  --only a,b           sessions: ${SESSIONS.map((s) => s.id).join(', ')}
  --scenarios a,b      ${ALL_SCENARIOS.join(', ')}
  --clients 1000,5000  fan-out client counts (overrides the preset)
  --rates 1000,20      latency scenario: messages per second (overrides the preset)
  --latency-clients N  latency scenario: clients (overrides the preset)
  --loaders N          load-generator processes (default: 2, more when needed)
  --deflate            raw WebSocket clients offer permessage-deflate (as browsers do)
  --profile            run gateways with --cpu-prof and print their hottest functions
  --out DIR            where latest.{json,md,svg} go (default bench/results)
`);
  process.exit(0);
}

const preset: Preset = structuredClone(PRESETS[args.quick ? 'quick' : 'full']);
if (args.clients !== undefined) preset.tiers = args.clients.split(',').map(Number);
if (args.rates !== undefined) preset.latency.rates = args.rates.split(',').map(Number);
if (args['latency-clients'] !== undefined) preset.latency.clients = Number(args['latency-clients']);
const scenarios = new Set<Scenario>(args.scenarios === undefined ? ALL_SCENARIOS : (args.scenarios.split(',') as Scenario[]));
const onlySessions = args.only?.split(',');
const sessions = SESSIONS.filter((s) => onlySessions === undefined || onlySessions.includes(s.id));

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
  if (scenarios.has('fanout') || scenarios.has('capacity') || scenarios.has('ramp')) for (const t of preset.tiers) points.add(t);
  if (scenarios.has('latency')) points.add(preset.latency.clients);
  if (scenarios.has('rooms') && spec.kind === 'sio') points.add(preset.rooms.clients);
  return [...points].sort((a, b) => b - a);
}

function countSteps(): number {
  let steps = 0;
  for (const spec of sessions) {
    const variants = spec.id === 'switchboard' ? 2 : 1;
    steps += 2; // start, connect
    if (scenarios.has('fanout')) steps += preset.tiers.length * preset.sizes.length * variants;
    if (scenarios.has('latency')) steps += preset.latency.rates.length * variants;
    if (scenarios.has('rooms') && spec.kind === 'sio') steps += 1 + variants;
    if (scenarios.has('ingest') && spec.id === 'switchboard') steps += 1;
  }
  return steps;
}

const entries: Entry[] = [];
const profiles: Record<string, HotFunction[]> = {};
const status = new Status(countSteps());
const maxClients = Math.max(...sessions.map((s) => pointsFor(s)[0] ?? 0), 1);
const loaders = Math.max(Number(args.loaders ?? 2), Math.ceil(maxClients / MAX_SOCKETS_PER_LOADER));
const pool = await LoaderPool.start(loaders);
const profileRoot = `${args.out}/profiles`;
const startedAt = new Date();

const meters = new Map<Session, CpuMeter>();
const add = (entry: Omit<Entry, 'ratios'>) => {
  entries.push({ ...entry, ratios: {} });
};

async function runSession(spec: SessionSpec): Promise<void> {
  status.begin(`${spec.id}: starting`);
  const profileDir = args.profile ? `${profileRoot}/${spec.id}` : undefined;
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
  const session = await spec.start(profileDir === undefined ? {} : { profileDir });
  try {
    const cpu = new CpuMeter({
      ...Object.fromEntries(Object.entries(session.processes).map(([role, procs]) => [role, procs.map((p) => p.pid)])),
      load_generators: pool.pids,
      harness: [process.pid],
    });
    meters.set(session, cpu);

    if (scenarios.has('ingest') && spec.id === 'switchboard' && session.redisUrl !== undefined) {
      status.begin(`${spec.id}: ingest, ${preset.ingest.events} events`);
      const r = await ingestRun(session.redisUrl, session.gatewayUrls[0]!, preset.ingest.events, preset.ingest.connections);
      const ingestCase = `${preset.ingest.events.toLocaleString('en-US')} events, ${preset.ingest.connections} connections`;
      const base = { scenario: 'ingest' as const, key: 'ingest', case: ingestCase, metric: 'events_per_s', unit: 'events/s', better: 'higher' as const, figures: { ...r } };
      add({ ...base, system: 'redis-xadd', label: 'XADD straight to Redis (floor)', baseline: true, value: r.xadd_per_s });
      add({ ...base, system: 'switchboard-accepted', label: 'POST /events → 202 (stored in the stream)', baseline: false, value: r.accepted_per_s });
      add({ ...base, system: 'switchboard-e2e', label: 'POST → worker → WebSocket client', baseline: false, value: r.end_to_end_per_s });
    }

    const points = pointsFor(spec);
    if (points.length === 0) return;
    // Connect in two halves: the ramp counts both, RSS per connection is the second half's
    // marginal cost (start-up, JIT and first-connection allocations stay out of it).
    const total = points[0]!;
    const half = Math.floor(total / 2);
    status.begin(`${spec.id}: connecting ${total} clients`);
    const first = await pool.connect(session.kind, session.clientUrls, half, { deflate: args.deflate });
    await sleep(preset.settleMs);
    const rssBefore = session.connectionHolders.map((p) => rssBytes(p.pid));
    const second = await pool.connect(session.kind, session.clientUrls, total - half, { deflate: args.deflate });
    const connected = { ok: first.ok + second.ok, failed: first.failed + second.failed, ms: first.ms + second.ms, errors: [...first.errors, ...second.errors] };
    if (connected.failed > 0) status.note(`${spec.id}: ${connected.failed} connections failed: ${connected.errors.join('; ')}`);
    const seconds = connected.ms / 1000;
    const kindName = spec.kind === 'ws' ? 'raw WebSocket' : 'Socket.IO';
    if (scenarios.has('ramp')) {
      add({
        scenario: 'ramp', key: `ramp:${spec.kind}`, case: `${kindName}, ${total.toLocaleString('en-US')} connections`, system: spec.id, label: spec.label,
        baseline: isBaselineSession(spec), metric: 'connections_per_s', unit: 'conn/s', better: 'higher', value: Math.round(connected.ok / seconds),
        figures: { connections: connected.ok, seconds: Math.round(seconds * 100) / 100, failed: connected.failed, errors: connected.errors },
      });
    }
    await sleep(preset.settleMs);
    const rssAfter = session.connectionHolders.map((p) => rssBytes(p.pid));
    if (scenarios.has('capacity') && second.ok > 0) {
      const delta = rssAfter.reduce((n, v, i) => n + v - rssBefore[i]!, 0);
      add({
        scenario: 'capacity', key: `capacity:${spec.kind}`, case: `${kindName}, idle`, system: spec.id, label: spec.label,
        baseline: isBaselineSession(spec), metric: 'rss_per_connection_kb', unit: 'KB', better: 'lower',
        value: Math.round((delta / second.ok / 1024) * 100) / 100,
        figures: {
          connections: connected.ok, measured_over: second.ok, processes: session.connectionHolders.length,
          connections_per_process: Math.round(connected.ok / session.connectionHolders.length),
          rss_mb_before: Math.round(rssBefore.reduce((a, b) => a + b, 0) / 2 ** 20), rss_mb_after: Math.round(rssAfter.reduce((a, b) => a + b, 0) / 2 ** 20),
          failed: connected.failed, per_process_limit: cap,
        },
      });
    }

    for (const clients of points) {
      await pool.shrinkTo(clients);
      if (scenarios.has('fanout') && preset.tiers.includes(clients)) {
        for (const size of preset.sizes) for (const v of session.variants) await fanout(session, v, clients, size);
      }
      if (scenarios.has('latency') && clients === preset.latency.clients) {
        // Lowest rate first: a saturating rate leaves a backlog behind (filtered out, but it costs CPU).
        const rates = [...preset.latency.rates].sort((a, b) => a - b);
        for (const rate of rates) for (const v of session.variants) await latency(session, v, clients, rate);
      }
      if (scenarios.has('rooms') && spec.kind === 'sio' && clients === preset.rooms.clients) await rooms(session, clients);
    }
  } finally {
    status.update(`${spec.id}: stopping`);
    await pool.shrinkTo(0);
    await session.stop();
    if (profileDir !== undefined && existsSync(profileDir)) {
      for (const file of profilesIn(profileDir)) profiles[`${spec.id}/${file.split('/').pop()}`] = summarizeProfile(file);
    }
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

let failed = false;
try {
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
const markdown = [`## Results`, '', `\`${command}\` — ${startedAt.toISOString()} — ${machine}`, '', tables, '### Targets', '', targetTable, hot ? `### Gateway CPU profiles\n\n${hot}` : ''].join('\n');

mkdirSync(args.out, { recursive: true });
writeFileSync(
  `${args.out}/latest.json`,
  `${JSON.stringify({ command, date: startedAt.toISOString(), machine, preset, entries, targets, profiles }, null, 2)}\n`,
);
writeFileSync(`${args.out}/latest.md`, markdown);
writeFileSync(`${args.out}/latest.svg`, renderChart(entries, subtitle));
process.stdout.write(`${markdown}\nwrote ${args.out}/latest.json, latest.md, latest.svg\n`);
process.exit(failed ? 1 : 0);
