/** The report: entries (one per scenario case and system), ratios to the baselines, targets. */

export type Scenario = 'fanout' | 'latency' | 'capacity' | 'ramp' | 'rooms' | 'ingest' | 'churn' | 'restart';

export interface Entry {
  scenario: Scenario;
  /** Groups entries measured under the same conditions, e.g. `fanout:1000:100`. */
  key: string;
  /** Human description of the case, e.g. `1,000 clients, 100 B`. */
  case: string;
  system: string;
  label: string;
  baseline: boolean;
  metric: string;
  unit: string;
  better: 'higher' | 'lower';
  value: number;
  figures: Record<string, unknown>;
  /** value ÷ the baseline's value for the same key, per baseline present. */
  ratios: Record<string, number>;
}

export const SHORT: Record<string, string> = {
  'switchboard-ingest': 'Switchboard (POST /events)',
  'switchboard-redis': 'Switchboard (Redis PUBLISH)',
  switchboard: 'Switchboard /ws/analytics',
  'switchboard-sio': 'Switchboard Socket.IO',
  'uws-bare': 'bare uWS',
  'ws-broadcast': 'ws broadcast',
  'socketio-single': 'Socket.IO 1 node',
  'socketio-cluster': 'Socket.IO 2 nodes + Redis adapter',
  'socketio-recovery': 'Socket.IO 1 node + recovery',
  'redis-xadd': 'XADD straight to Redis',
  'ingest-uws': 'bare uWS POST → XADD',
  'ingest-fastify': 'Fastify POST → XADD',
  'switchboard-accepted': 'Switchboard POST /events → 202',
  'switchboard-e2e': 'Switchboard POST → worker → client',
};

export const SCENARIO_TITLES: Record<Scenario, string> = {
  fanout: 'Fan-out: deliveries per second (higher is better)',
  latency: 'Publish → delivery latency at a steady rate (p99, lower is better)',
  capacity: 'Idle connections: RSS per connection (lower is better)',
  ramp: 'Connection ramp: connections accepted per second (higher is better)',
  rooms: 'Socket.IO rooms: room deliveries per second (higher is better)',
  ingest: 'Ingest: events per second (higher is better)',
  churn: 'Churn: share of accepted messages every client received (higher is better)',
  restart: 'Rolling restart of every gateway: share of accepted messages every client received',
};

export const BASELINE_IDS = ['uws-bare', 'ws-broadcast', 'socketio-single', 'socketio-cluster', 'redis-xadd', 'ingest-uws', 'ingest-fastify'];

/** A latency figure: milliseconds, or null when there were no samples. */
const msOrNa = (v: unknown): string => (typeof v === 'number' ? String(v) : 'n/a');

/** Scenarios judged on their own figures (a share delivered), not as ratios to a baseline. */
const NO_RATIOS: Scenario[] = ['churn', 'restart'];

export function computeRatios(entries: Entry[]): void {
  for (const entry of entries) {
    entry.ratios = {};
    if (NO_RATIOS.includes(entry.scenario)) continue;
    for (const base of entries) {
      if (base.key !== entry.key || !base.baseline || base === entry || base.value <= 0) continue;
      entry.ratios[base.system] = Math.round((entry.value / base.value) * 1000) / 1000;
    }
  }
}

export interface Target {
  id: string;
  text: string;
  verdict: 'met' | 'missed' | 'not measured';
  detail: string;
  cases: { system: string; case: string; value: number }[];
}

interface RatioTarget {
  id: string;
  text: string;
  scenario: Scenario;
  systems: string[];
  baseline: string;
  /** Met when every case's ratio is at least this (higher is better)… */
  min?: number;
  /** …or at most this (lower is better: latency). */
  max?: number;
}

/** The throughput issue's "done when" numbers (docs/benchmarks.md, "Targets"). */
const RATIO_TARGETS: RatioTarget[] = [
  { id: 'fanout-engine-vs-uws', text: 'analytics fan-out through the engine ≥ 0.9× bare uWebSockets.js', scenario: 'fanout', systems: ['switchboard-redis'], baseline: 'uws-bare', min: 0.9 },
  { id: 'fanout-post-vs-uws', text: 'analytics fan-out through `POST /events` ≥ 0.7× bare uWebSockets.js', scenario: 'fanout', systems: ['switchboard-ingest'], baseline: 'uws-bare', min: 0.7 },
  { id: 'fanout-vs-ws', text: 'analytics fan-out ≥ 4× the `ws` broadcast server', scenario: 'fanout', systems: ['switchboard-redis', 'switchboard-ingest'], baseline: 'ws-broadcast', min: 4 },
  { id: 'cluster-vs-socketio-cluster', text: 'two-gateway cluster ≥ 3× the plain two-node Socket.IO cluster', scenario: 'fanout', systems: ['switchboard-redis', 'switchboard-ingest', 'switchboard-sio'], baseline: 'socketio-cluster', min: 3 },
  { id: 'rooms-vs-single', text: 'Socket.IO rooms across two nodes ≥ 0.9× single-node Socket.IO', scenario: 'rooms', systems: ['switchboard-sio', 'socketio-cluster'], baseline: 'socketio-single', min: 0.9 },
  { id: 'ingest-vs-uws', text: 'gateway `POST /events` ≥ 0.8× a bare uWS POST → XADD → 202 server', scenario: 'ingest', systems: ['switchboard-accepted'], baseline: 'ingest-uws', min: 0.8 },
  { id: 'e2e-vs-uws', text: 'end to end (POST → 1 worker → client) ≥ 0.7× a bare uWS POST → XADD → 202 server', scenario: 'ingest', systems: ['switchboard-e2e'], baseline: 'ingest-uws', min: 0.7 },
  { id: 'latency-vs-uws', text: 'publish → delivery p99 through `POST /events` ≤ 1.3× bare uWebSockets.js at the same steady rate', scenario: 'latency', systems: ['switchboard-ingest'], baseline: 'uws-bare', max: 1.3 },
];

/** Whether a ratio meets a target. */
const meets = (t: RatioTarget, ratio: number): boolean => (t.max === undefined ? ratio >= (t.min ?? 0) : ratio <= t.max);

interface DisruptionTarget {
  id: string;
  text: string;
  scenario: Scenario;
  /** Each check: what it says, and whether the entry passes it. */
  checks: [string, (f: Record<string, unknown>) => boolean][];
}

const n = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
const DISRUPTION_TARGETS: DisruptionTarget[] = [
  {
    id: 'churn',
    text: 'churn: 100 % delivered, 0 duplicates, replay p99 < 1 s',
    scenario: 'churn',
    checks: [
      ['100 % delivered', (f) => n(f['lost']) === 0 && n(f['accepted']) > 0],
      ['0 duplicates', (f) => n(f['duplicates']) === 0],
      ['replay p99 < 1 s', (f) => n(f['replay_p99_ms']) < 1000],
    ],
  },
  {
    id: 'restart',
    text: 'rolling restart: 0 lost, 100 % back, reconnect p50 < 1 s',
    scenario: 'restart',
    checks: [
      ['0 lost', (f) => n(f['lost']) === 0 && n(f['accepted']) > 0],
      ['100 % back', (f) => n(f['still_open']) === n(f['clients']) && n(f['reconnected_pct']) === 100],
      ['reconnect p50 < 1 s', (f) => n(f['reconnect_p50_ms']) < 1000],
    ],
  },
];

const fmtRatio = (r: number) => `${r.toFixed(2)}×`;

export function evaluateTargets(entries: Entry[]): Target[] {
  const targets: Target[] = [];
  for (const t of RATIO_TARGETS) {
    for (const system of t.systems) {
      const cases = entries
        .filter((e) => e.scenario === t.scenario && e.system === system && e.ratios[t.baseline] !== undefined)
        .map((e) => ({ system, case: e.case, value: e.ratios[t.baseline]! }));
      const worse = (a: number, b: number) => (t.max === undefined ? a < b : a > b);
      const worst = cases.reduce<(typeof cases)[number] | undefined>((w, c) => (w === undefined || worse(c.value, w.value) ? c : w), undefined);
      targets.push({
        id: `${t.id}:${system}`,
        text: `${t.text} — ${SHORT[system] ?? system}`,
        verdict: worst === undefined ? 'not measured' : meets(t, worst.value) ? 'met' : 'missed',
        detail:
          worst === undefined
            ? 'no comparable run'
            : `${cases.filter((c) => meets(t, c.value)).length}/${cases.length} cases met; worst ${fmtRatio(worst.value)} at ${worst.case}; ` +
              cases.map((c) => `${c.case}: ${fmtRatio(c.value)}`).join(', '),
        cases,
      });
    }
  }
  for (const t of DISRUPTION_TARGETS) {
    for (const system of ['switchboard', 'switchboard-sio']) {
      const e = entries.find((x) => x.scenario === t.scenario && x.system === system);
      const failing = e === undefined ? [] : t.checks.filter(([, ok]) => !ok(e.figures)).map(([what]) => what);
      const f = e?.figures ?? {};
      targets.push({
        id: `${t.id}:${system}`,
        text: `${t.text} — ${SHORT[system] ?? system}`,
        verdict: e === undefined ? 'not measured' : failing.length === 0 ? 'met' : 'missed',
        detail:
          e === undefined
            ? 'no run'
            : `${e.case}: ${String(f['delivered_pct'])} % delivered (${String(f['lost'])} lost, ${String(f['lost_per_client'])} per client), ${String(f['duplicates'])} duplicates, ` +
              (t.scenario === 'churn'
                ? `replay p50/p99 ${msOrNa(f['replay_p50_ms'])}/${msOrNa(f['replay_p99_ms'])} ms`
                : `${String(f['still_open'])}/${String(f['clients'])} back, reconnect p50/p99 ${msOrNa(f['reconnect_p50_ms'])}/${msOrNa(f['reconnect_p99_ms'])} ms`) +
              (failing.length > 0 ? `; missed: ${failing.join(', ')}` : ''),
        cases: e === undefined ? [] : [{ system, case: e.case, value: e.value }],
      });
    }
  }
  const limit = (id: string, text: string, key: string, system: string, max: number, unit: string) => {
    const e = entries.find((x) => x.key === key && x.system === system);
    const sample = Number(e?.figures['measured_over'] ?? 0);
    targets.push({
      id,
      text,
      verdict: e === undefined ? 'not measured' : e.value <= max ? 'met' : 'missed',
      detail:
        e === undefined
          ? 'no run'
          : `${e.value} ${unit} (${e.case}, over ${sample.toLocaleString('en-US')} connections${sample < 5_000 ? '; small sample: indicative only, use the full preset' : ''})`,
      cases: e === undefined ? [] : [{ system, case: e.case, value: e.value }],
    });
  };
  limit('rss-raw', '≤ 2 KB RSS per idle raw connection (gateway /ws/analytics)', 'capacity:ws', 'switchboard', 2, 'KB');
  limit('rss-socketio', '≤ 10 KB RSS per idle Socket.IO connection (gateway)', 'capacity:sio', 'switchboard-sio', 10, 'KB');

  // Redis's own CPU per committed event on the end-to-end ingest run (INFO used_cpu_* deltas).
  const e2e = entries.find((x) => x.scenario === 'ingest' && x.system === 'switchboard-e2e');
  const redisUs = e2e === undefined ? undefined : Number(e2e.figures['redis_us_per_event']);
  const bareUs = entries.find((x) => x.scenario === 'ingest' && x.system === 'ingest-uws')?.figures['redis_us_per_event'] as number | undefined;
  targets.push({
    id: 'e2e-redis-cpu',
    text: 'end to end: Redis CPU ≤ 12 µs per committed event',
    verdict: redisUs === undefined || !Number.isFinite(redisUs) || redisUs <= 0 ? 'not measured' : redisUs <= 12 ? 'met' : 'missed',
    detail:
      e2e === undefined
        ? 'no run'
        : `${String(redisUs)} µs and ${String(e2e.figures['redis_calls_per_event'])} Redis calls per committed event (${Number(e2e.figures['committed']).toLocaleString('en-US')} committed)` +
          (bareUs === undefined ? '' : `; the bare uWS server's XADD: ${String(bareUs)} µs per event`),
    cases: e2e === undefined || redisUs === undefined ? [] : [{ system: 'switchboard-e2e', case: e2e.case, value: redisUs }],
  });

  // p99 ≤ 20 ms at 10k clients and 1k messages/s: judged on the largest latency case measured.
  for (const system of ['switchboard-ingest', 'switchboard-redis']) {
    const runs = entries.filter((e) => e.scenario === 'latency' && e.system === system);
    const rank = (e: Entry) => Number(e.figures['clients']) * 1e6 + Number(e.figures['rate_per_s']);
    const e = runs.sort((a, b) => rank(b) - rank(a))[0];
    const exact = e !== undefined && Number(e.figures['clients']) >= 10_000 && Number(e.figures['rate_per_s']) >= 1_000;
    targets.push({
      id: `latency:${system}`,
      text: `publish → delivery p99 ≤ 20 ms at 10k clients and 1k messages/s — ${SHORT[system] ?? system}`,
      verdict: e === undefined || !exact ? 'not measured' : e.value <= 20 && e.figures['status'] === 'ok' ? 'met' : 'missed',
      detail:
        e === undefined
          ? 'no run'
          : `p99 ${e.value} ms at ${e.case}${exact ? '' : ' — not the target case (run the full preset)'}; ${String(e.figures['status'])}`,
      cases: e === undefined ? [] : [{ system, case: e.case, value: e.value }],
    });
  }
  return targets;
}

/** `gateways 120 + worker 15 + redis 10 / 180`: the system's processes, then the load generators. */
const cpuCell = (cpu: unknown): string => {
  if (typeof cpu !== 'object' || cpu === null) return '';
  const parts = Object.entries(cpu as Record<string, number>);
  const system = parts.filter(([k]) => k !== 'load_generators' && k !== 'harness');
  const load = (cpu as Record<string, number>)['load_generators'];
  const own = system.map(([k, v]) => `${k} ${v}`).join(' + ');
  return load === undefined ? own : `${own} / ${load}`;
};

const num = (v: unknown): string => {
  if (Array.isArray(v)) return v.map(num).join(' / ');
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  // Booleans as `true`/`false`; an object as its JSON rather than `[object Object]`.
  if (typeof v !== 'number') return JSON.stringify(v);
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return String(Math.round(v * 100) / 100);
};

/** Extra columns shown per scenario (besides the headline value and the ratios). */
const COLUMNS: Record<Scenario, [string, string][]> = {
  fanout: [['messages_per_s', 'msg/s'], ['frame_bytes', 'frame B'], ['lost', 'lost'], ['status', 'status'], ['cpu', 'CPU % (system / load gen.)']],
  latency: [['p50_ms', 'p50 ms'], ['p999_ms', 'p99.9 ms'], ['deliveries_per_s', 'deliveries/s'], ['status', 'status'], ['cpu', 'CPU % (system / load gen.)']],
  capacity: [['connections_per_process', 'held per process'], ['rss_mb_after', 'RSS MB'], ['failed', 'failed']],
  ramp: [['connections', 'connections'], ['seconds', 's'], ['failed', 'failed']],
  rooms: [['deliveries_per_s', 'all deliveries/s'], ['ack_p50_ms', 'join ack p50 ms'], ['ack_p99_ms', 'join ack p99 ms'], ['lost', 'lost'], ['cpu', 'CPU % (system / load gen.)']],
  ingest: [
    ['rounds', 'each round'], ['requests_per_s', 'accepted/s'], ['p50_ms', 'POST p50 ms'], ['p99_ms', 'POST p99 ms'], ['errors', 'errors'], ['cpu', 'CPU % (system)'],
    ['redis_us_per_event', 'Redis µs/event'], ['redis_calls_per_event', 'Redis calls/event'],
  ],
  churn: [
    ['duplicates', 'duplicates'], ['lost_per_client', 'lost per client'], ['replay_p50_ms', 'replay p50 ms'], ['replay_p99_ms', 'replay p99 ms'],
    ['drops', 'drops'], ['server_closes', 'closed by server'], ['recovered', 'resumed'], ['not_recovered', 'not resumed'], ['accepted', 'messages'],
    ['cpu', 'CPU % (system / load gen.)'],
  ],
  restart: [
    ['reconnected_pct', '% back'], ['reconnect_p50_ms', 'reconnect p50 ms'], ['reconnect_p99_ms', 'reconnect p99 ms'], ['lost_per_client', 'lost per client'],
    ['duplicates', 'duplicates'], ['server_closes', 'closed by server'], ['recovered', 'resumed'], ['not_recovered', 'not resumed'], ['failed_attempts', 'failed dials'],
    ['accepted', 'messages'],
  ],
};

export function markdownTables(entries: Entry[]): string {
  const out: string[] = [];
  for (const scenario of Object.keys(SCENARIO_TITLES) as Scenario[]) {
    const rows = entries.filter((e) => e.scenario === scenario);
    if (rows.length === 0) continue;
    const bases = BASELINE_IDS.filter((b) => rows.some((r) => r.ratios[b] !== undefined));
    const extra = COLUMNS[scenario];
    out.push(`### ${SCENARIO_TITLES[scenario]}`, '');
    const cells = (values: string[]) => `| ${values.join(' | ')} |`;
    out.push(cells(['case', 'system', `${rows[0]!.metric} (${rows[0]!.unit})`, ...extra.map(([, h]) => h), ...bases.map((b) => `÷ ${SHORT[b]}`)]));
    out.push(`|---|---|---:|${[...extra, ...bases].map(() => '---:').join('|')}|`);
    for (const r of rows) {
      const ratios = bases.map((b) => (r.ratios[b] === undefined ? '' : fmtRatio(r.ratios[b])));
      const figure = (k: string) => (k === 'cpu' ? cpuCell(r.figures['cpu_pct']) : num(r.figures[k]));
      out.push(cells([r.case, SHORT[r.system] ?? r.system, num(r.value), ...extra.map(([k]) => figure(k)), ...ratios]));
    }
    out.push('');
  }
  return out.join('\n');
}

export function markdownTargets(targets: Target[]): string {
  const mark = { met: '✅ met', missed: '❌ missed', 'not measured': '— not measured' };
  return ['| target | verdict | measured |', '|---|---|---|', ...targets.map((t) => `| ${t.text} | ${mark[t.verdict]} | ${t.detail} |`), ''].join('\n');
}
