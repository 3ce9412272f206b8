/**
 * Ingest throughput, measured as the fan-out is: the load comes from `wrk` (a separate C
 * process: 1 thread, `connections` keep-alive connections, `seconds` long) posting the same
 * analytics event to
 *   - a bare uWebSockets.js `POST /events` → `XADD` → 202 server (servers/uws-ingest.ts),
 *   - the same written with Fastify as its documentation shows (servers/fastify-ingest.ts),
 *   - Switchboard's gateway alone (`POST /events` → 202: stored in the ingest stream),
 *   - Switchboard end to end: gateway + one worker + a client on `/ws/analytics`, counting the
 *     events that reach the client per second while wrk keeps posting.
 * Each system gets its own redis-server. Redis's own work is read from `INFO` (`used_cpu_user` +
 * `used_cpu_sys`, `commandstats`) before and after each run: µs of Redis CPU and Redis calls per
 * event (per accepted request; end to end, per committed event, once the worker caught up).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import WebSocket from 'ws';
import { RedisEngine } from '@switchboard/engine';
import { CHANNELS } from '@switchboard/protocol';
import { sampleShard, type ShardSample } from './cluster-shards.js';
import { cpuProfArgs } from './profile.js';
import { SWITCHBOARD_CLI, serverScript, sleep, startNode, startRedis, until, type CpuMeter, type Proc } from './lib/proc.js';
import { SWITCHBOARD_BENCH_ENV } from './systems.js';

const LUA = fileURLToPath(new URL('../wrk/post-json.lua', import.meta.url));
export const INGEST_BODY = JSON.stringify({ type: 'page_view', visitor_id: 'bench-visitor', data: { path: '/pricing', referrer: 'https://example.com/' } });

export interface WrkResult {
  requests: number;
  /** Requests answered 2xx. */
  accepted: number;
  requests_per_s: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}

/** Runs wrk against `url` and parses the summary its Lua `done` hook prints. */
export function wrk(url: string, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', LUA, url], {
      env: { ...process.env, WRK_BODY: INGEST_BODY },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => reject(new Error(`wrk could not start (${err.message}): install it with apt-get install -y wrk`)));
    child.once('exit', (code) => {
      const line = /WRK_JSON (\{.*\})/.exec(out)?.[1];
      if (code !== 0 || line === undefined) return reject(new Error(`wrk failed (exit ${code}): ${out.slice(-400)}`));
      const s = JSON.parse(line) as Record<string, number>;
      const errors = s['connect_errors']! + s['read_errors']! + s['write_errors']! + s['status_errors']! + s['timeouts']!;
      resolve({
        requests: s['requests']!,
        accepted: s['requests']! - s['status_errors']!,
        requests_per_s: Math.round((s['requests']! - s['status_errors']!) / (s['duration_us']! / 1e6)),
        p50_ms: s['p50_us']! / 1000,
        p99_ms: s['p99_us']! / 1000,
        errors,
      });
    });
  });
}

export interface IngestFigures extends WrkResult {
  /** End to end only: events that reached the client per second, and how many. */
  delivered_per_s?: number;
  delivered?: number;
  /** End to end only: events the worker committed (offsets taken on the analytics channel). */
  committed?: number;
  cpu_pct: Record<string, number>;
  /** Redis CPU (user + sys) per event, µs: per accepted request, or end to end per committed event. */
  redis_us_per_event: number;
  /** Redis commands (scripts' own calls included) per event. */
  redis_calls_per_event: number;
}

/** Redis CPU seconds and commands processed (`INFO`): the calls a script makes count too. */
const redisCalls = (sample: ShardSample): number => Object.values(sample.calls).reduce((a, b) => a + b, 0);

function redisPerEvent(before: ShardSample, after: ShardSample, events: number) {
  const per = (n: number) => (events <= 0 ? 0 : Math.round((n / events) * 100) / 100);
  return {
    redis_us_per_event: per((after.cpuSeconds - before.cpuSeconds) * 1e6),
    // INFO itself and the samples' PUBSUB calls are a handful among hundreds of thousands.
    redis_calls_per_event: per(redisCalls(after) - redisCalls(before)),
  };
}

const portOf = (url: string) => Number(new URL(url).port);

export interface IngestSystem {
  id: string;
  label: string;
  baseline: boolean;
  /** With `profileDir`, its Node processes write their CPU profiles there; `processes` names them by role. */
  run(connections: number, seconds: number, meter: (groups: Record<string, Proc[]>) => CpuMeter, profileDir?: string): Promise<IngestFigures & { processes: Record<string, Proc[]> }>;
}

async function measured(
  groups: Record<string, Proc[]>,
  meter: (groups: Record<string, Proc[]>) => CpuMeter,
  redisUrl: string,
  run: () => Promise<WrkResult>,
): Promise<Omit<IngestFigures, 'redis_us_per_event' | 'redis_calls_per_event'> & { redis: [ShardSample, ShardSample] }> {
  const before = await sampleShard(portOf(redisUrl));
  const cpu = meter(groups);
  cpu.start();
  const r = await run();
  const cpu_pct = cpu.stop();
  return { ...r, cpu_pct, redis: [before, await sampleShard(portOf(redisUrl))] };
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) await p.stop();
}

/** A baseline server script (uws-ingest, fastify-ingest) on its own Redis. */
const baselineServer = (id: string, label: string, script: string): IngestSystem => ({
  id,
  label,
  baseline: true,
  async run(connections, seconds, meter, profileDir) {
    const redis = await startRedis();
    const server = await startNode(id, serverScript(script), [], { REDIS_URL: redis.url }, '/health', { execArgv: cpuProfArgs(profileDir) });
    try {
      const { redis: samples, ...r } = await measured({ server: [server.proc], redis: [redis.proc] }, meter, redis.url, () =>
        wrk(`http://127.0.0.1:${server.port}/events`, connections, seconds),
      );
      return { ...r, ...redisPerEvent(...samples, r.accepted), processes: { server: [server.proc] } };
    } finally {
      await stopAll([server.proc, redis.proc]);
    }
  },
});

const GATEWAY_ENV = SWITCHBOARD_BENCH_ENV;

export const INGEST_SYSTEMS: IngestSystem[] = [
  baselineServer('ingest-uws', 'bare uWebSockets.js POST → XADD → 202', 'uws-ingest'),
  baselineServer('ingest-fastify', 'Fastify POST → XADD → 202 (JSON schema, async handler)', 'fastify-ingest'),
  {
    id: 'switchboard-accepted',
    label: 'Switchboard gateway POST /events → 202 (stored in the ingest stream; no worker)',
    baseline: false,
    async run(connections, seconds, meter, profileDir) {
      const redis = await startRedis();
      const execArgv = cpuProfArgs(profileDir);
      const gateway = await startNode('gateway', SWITCHBOARD_CLI, ['gateway'], { ...GATEWAY_ENV, REDIS_URL: redis.url, NODE_ID: 'bench-ingest-gw' }, '/readyz', { execArgv });
      try {
        const { redis: samples, ...r } = await measured({ gateway: [gateway.proc], redis: [redis.proc] }, meter, redis.url, () =>
          wrk(`http://127.0.0.1:${gateway.port}/events`, connections, seconds),
        );
        return { ...r, ...redisPerEvent(...samples, r.accepted), processes: { gateway: [gateway.proc] } };
      } finally {
        await stopAll([gateway.proc, redis.proc]);
      }
    },
  },
  {
    id: 'switchboard-e2e',
    label: 'Switchboard end to end: POST /events → stream → 1 worker → pub/sub → gateway → client',
    baseline: false,
    async run(connections, seconds, meter, profileDir) {
      const redis = await startRedis();
      const env = { ...GATEWAY_ENV, REDIS_URL: redis.url };
      const execArgv = cpuProfArgs(profileDir);
      const worker = await startNode('worker', SWITCHBOARD_CLI, ['worker'], { ...env, NODE_ID: 'bench-ingest-wk' }, '/readyz', { execArgv });
      const gateway = await startNode('gateway', SWITCHBOARD_CLI, ['gateway'], { ...env, NODE_ID: 'bench-ingest-gw' }, '/readyz', { execArgv });
      const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/ws/analytics`);
      const engine = new RedisEngine({ url: redis.url, logger: pino({ level: 'silent' }) });
      try {
        // Deliveries counted after a warm-up of a fifth of the run, until wrk stops.
        let delivered = 0;
        let counting = false;
        ws.on('message', (data: Buffer) => {
          if (counting && data.toString('latin1', 0, 20).startsWith('{"type":"page_view"')) delivered += 1;
        });
        await new Promise((resolve, reject) => {
          ws.once('message', resolve);
          ws.once('error', reject);
        });
        const warmup = seconds / 5;
        let windowStart = 0;
        let windowEnd = 0;
        const counter = (async () => {
          await sleep(warmup * 1000);
          counting = true;
          windowStart = performance.now();
        })();
        const offsetBefore = (await engine.position(CHANNELS.analytics)).offset;
        const { redis: samples, ...r } = await measured({ gateway: [gateway.proc], worker: [worker.proc], redis: [redis.proc] }, meter, redis.url, async () => {
          const result = await wrk(`http://127.0.0.1:${gateway.port}/events`, connections, seconds);
          counting = false;
          windowEnd = performance.now();
          // Redis's work per event counts every accepted event committed: wait for the worker.
          await caughtUp(engine, offsetBefore + result.accepted);
          return result;
        });
        await counter;
        await until(() => Promise.resolve(ws.readyState === WebSocket.OPEN), 'client still connected', 1000);
        const committed = (await engine.position(CHANNELS.analytics)).offset - offsetBefore;
        return { ...r, delivered, delivered_per_s: Math.round(delivered / ((windowEnd - windowStart) / 1000)), committed, ...redisPerEvent(...samples, committed), processes: { gateway: [gateway.proc], worker: [worker.proc] } };
      } finally {
        ws.terminate();
        await engine.close();
        await stopAll([gateway.proc, worker.proc, redis.proc]);
      }
    },
  },
];

/**
 * Resolves once the analytics channel reached `offset` (every accepted event committed; the
 * heartbeats' few frames count too), or stopped moving for 2 s, or after 60 s.
 */
async function caughtUp(engine: RedisEngine, offset: number): Promise<void> {
  const deadline = performance.now() + 60_000;
  let last = -1;
  let still = performance.now();
  for (;;) {
    const now = (await engine.position(CHANNELS.analytics)).offset;
    if (now >= offset || performance.now() > deadline) return;
    if (now !== last) [last, still] = [now, performance.now()];
    else if (performance.now() - still > 2_000) return;
    await sleep(100);
  }
}
