#!/usr/bin/env node
/**
 * Many channels, one Redis against a Redis Cluster: `npm run bench:channels`.
 *
 * For each Redis setup (one redis-server; a local cluster of 3 masters + 3 replicas) it starts the
 * real `switchboard` processes (two gateways, two workers), connects `--clients-per-app` `/ws/logs`
 * clients to each of `--apps` log apps (alternating gateways), then producers POST batches of log
 * entries (one app per request, apps in turn, both gateways) as fast as the cluster answers for
 * `--seconds`. Measured: entries accepted (202) per second, entries delivered to clients per
 * second, gateway and worker CPU, and per Redis master (shard): CPU from `INFO` deltas, publishes
 * and script calls per second from `INFO commandstats`, output bytes, channels served.
 * Then the pub/sub layer alone on the same setups (cluster-pubsub.ts): its per-shard ceiling.
 * Results: bench/results/channels-latest.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { CpuMeter, SWITCHBOARD_CLI, sleep, startNode, type Proc } from './lib/proc.js';
import { runPubsub, type PubsubResult } from './cluster-pubsub.js';
import { sampleShard, shardFigures, startBenchRedis, type ShardFigures } from './cluster-shards.js';

const PRODUCER_KEY = 'bench-producer-key-0001';

const { values: options } = parseArgs({
  options: {
    modes: { type: 'string', default: 'single,cluster' },
    'pubsub-modes': { type: 'string', default: 'single,cluster' },
    apps: { type: 'string', default: '100' },
    'clients-per-app': { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '20' },
    producers: { type: 'string', default: '8' },
    out: { type: 'string', default: fileURLToPath(new URL('../results', import.meta.url)) },
    help: { type: 'boolean', default: false },
  },
});
if (options.help) {
  process.stdout.write(
    'usage: npm run bench:channels -- [--modes single,cluster] [--pubsub-modes single,cluster] [--apps 100] [--clients-per-app 10] [--seconds 10] [--batch 20] [--producers 8] [--out DIR]\n',
  );
  process.exit(0);
}
const positive = (name: keyof typeof options): number => {
  const value = Number(options[name]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name}: expected a positive integer, got ${String(options[name])}`);
  return value;
};
const APPS = positive('apps');
const CLIENTS_PER_APP = positive('clients-per-app');
const SECONDS = positive('seconds');
const BATCH = positive('batch');
const PRODUCERS = positive('producers');
const modes = (name: 'modes' | 'pubsub-modes'): ('single' | 'cluster')[] => {
  const list = String(options[name]).split(',').filter(Boolean);
  for (const mode of list) if (mode !== 'single' && mode !== 'cluster') throw new Error(`--${name}: unknown mode ${mode}`);
  return list as ('single' | 'cluster')[];
};
const MODES = modes('modes');
const PUBSUB_MODES = modes('pubsub-modes');

export interface ChannelsResult {
  mode: 'single' | 'cluster';
  apps: number;
  clients: number;
  seconds: number;
  acceptedEntriesPerSecond: number;
  acceptedRequestsPerSecond: number;
  refusedRequests: number;
  deliveredEntriesPerSecond: number;
  /** Deliveries still missing when the wait ended (0: every client got every accepted entry). */
  missing: number;
  cpuPercent: { gateways: number; workers: number; redis: number };
  shards: ShardFigures[];
}

/** A `/ws/logs` client of one app that counts the live entries it receives. */
async function logsClient(gatewayUrl: string, appId: string, counter: { entries: number }): Promise<WebSocket> {
  const ws = new WebSocket(`${gatewayUrl.replace('http', 'ws')}/ws/logs`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => ws.send(JSON.stringify({ type: 'auth', data: { userId: 'bench', appId } })));
    ws.once('error', reject);
    ws.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { type: string; payload?: unknown[]; offset?: number };
      if (frame.type === 'auth_success') resolve();
      else if (frame.type === 'auth_error') reject(new Error(`auth refused for ${appId}`));
      else if (frame.type === 'logs' && typeof frame.offset === 'number') counter.entries += frame.payload?.length ?? 0;
    });
  });
  return ws;
}

async function runMode(mode: 'single' | 'cluster'): Promise<ChannelsResult> {
  const redis = await startBenchRedis(mode);
  const procs: Proc[] = [];
  const sockets: WebSocket[] = [];
  try {
    const env = { ...redis.env, LOG_LEVEL: 'warn', NODE_ENV: 'development', INGEST_API_KEYS: PRODUCER_KEY, MAX_CONNECTIONS_PER_ADDRESS: '0', UPGRADE_RATE_PER_ADDRESS: '0' };
    const workers = await Promise.all([1, 2].map((i) => startNode(`worker-${i}`, SWITCHBOARD_CLI, ['worker'], { ...env, NODE_ID: `bench-wk-${i}` }, '/readyz')));
    const gateways = await Promise.all([1, 2].map((i) => startNode(`gateway-${i}`, SWITCHBOARD_CLI, ['gateway'], { ...env, NODE_ID: `bench-gw-${i}` }, '/readyz')));
    procs.push(...gateways.map((g) => g.proc), ...workers.map((w) => w.proc));
    const urls = gateways.map((g) => `http://127.0.0.1:${g.port}`);

    const counter = { entries: 0 };
    for (let app = 0; app < APPS; app++) {
      const opened = [];
      for (let c = 0; c < CLIENTS_PER_APP; c++) opened.push(logsClient(urls[(app + c) % urls.length]!, `bench-app-${app}`, counter));
      sockets.push(...(await Promise.all(opened)));
    }

    const masters = await redis.masters();
    const redisPids = await redisPidsOf(masters);
    const cpu = new CpuMeter({ gateways: gateways.map((g) => g.proc.pid), workers: workers.map((w) => w.proc.pid), redis: redisPids });
    const before = await Promise.all(masters.map(sampleShard));
    cpu.start();
    const started = performance.now();
    let accepted = 0;
    let requests = 0;
    let refused = 0;
    let next = 0;
    const producer = async (index: number) => {
      while (performance.now() - started < SECONDS * 1000) {
        const app = next++ % APPS;
        const body = Array.from({ length: BATCH }, (_, i) => ({ appId: `bench-app-${app}`, level: 'info', message: `bench entry ${i}` }));
        const res = await fetch(`${urls[index % urls.length]}/logs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${PRODUCER_KEY}` },
          body: JSON.stringify(body),
        });
        await res.arrayBuffer();
        if (res.status === 202) {
          accepted += BATCH;
          requests++;
        } else refused++;
      }
    };
    await Promise.all(Array.from({ length: PRODUCERS }, (_, i) => producer(i)));
    const expected = accepted * CLIENTS_PER_APP;
    // Delivery continues after the last POST: measure until every client has every entry.
    const deadline = performance.now() + 60_000;
    while (counter.entries < expected && performance.now() < deadline) await sleep(50);
    const elapsed = (performance.now() - started) / 1000;
    const cpuPercent = cpu.stop();
    const after = await Promise.all(masters.map(sampleShard));
    return {
      mode,
      apps: APPS,
      clients: sockets.length,
      seconds: Math.round(elapsed * 10) / 10,
      acceptedEntriesPerSecond: Math.round(accepted / SECONDS),
      acceptedRequestsPerSecond: Math.round(requests / SECONDS),
      refusedRequests: refused,
      deliveredEntriesPerSecond: Math.round(counter.entries / elapsed),
      missing: Math.max(0, expected - counter.entries),
      cpuPercent: { gateways: cpuPercent['gateways'] ?? 0, workers: cpuPercent['workers'] ?? 0, redis: cpuPercent['redis'] ?? 0 },
      shards: before.map((b, i) => shardFigures(b, after[i]!)),
    };
  } finally {
    for (const ws of sockets) ws.terminate();
    for (const p of procs) await p.stop();
    await redis.stop();
  }
}

/** The pid of the redis-server on each port (from INFO server), for the CPU meter. */
async function redisPidsOf(ports: number[]): Promise<number[]> {
  const { Redis } = await import('ioredis');
  return Promise.all(
    ports.map(async (port) => {
      const client = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 });
      try {
        return Number(/process_id:(\d+)/.exec(await client.info('server'))?.[1]);
      } finally {
        client.disconnect();
      }
    }),
  );
}

function markdown(results: ChannelsResult[], pubsub: PubsubResult[]): string {
  const lines = [
    `# Many channels: one Redis against a 3-shard Redis Cluster`,
    '',
    `${APPS} log apps, ${CLIENTS_PER_APP} \`/ws/logs\` clients each over two gateways, two workers; producers POST batches of ${BATCH} entries (one app per request) for ${SECONDS} s.`,
    '',
    '| Redis | accepted entries/s | delivered entries/s | missing | CPU % gateways | CPU % workers | CPU % Redis (all masters) |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.mode} | ${r.acceptedEntriesPerSecond} | ${r.deliveredEntriesPerSecond} | ${r.missing} | ${r.cpuPercent.gateways} | ${r.cpuPercent.workers} | ${r.cpuPercent.redis} |`),
    '',
    '| Redis | shard (port) | CPU % | publishes/s | CPU µs/publish | scripts/s | commands/s | output KB/s | channels |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.flatMap((r) =>
      r.shards.map((s) => `| ${r.mode} | ${s.port} | ${s.cpuPercent} | ${s.publishesPerSecond} | ${s.cpuMicrosPerPublish} | ${s.scriptsPerSecond} | ${s.commandsPerSecond} | ${Math.round(s.outputBytesPerSecond / 1024)} | ${s.channels} |`),
    ),
    '',
    `Pub/sub alone (no gateways or workers): ${APPS} channels, two subscriber connections each on every channel, 4 auto-pipelined publishers.`,
    '',
    '| Redis | payload B | publishes/s | deliveries/s | shard (port) | shard CPU % | shard publishes/s | CPU µs/publish | shard output KB/s |',
    '|---|---:|---:|---:|---|---:|---:|---:|---:|',
    ...pubsub.flatMap((r) =>
      r.shards.map((s, i) =>
        [
          ...(i === 0 ? [r.mode, r.payloadBytes, r.publishesPerSecond, r.deliveriesPerSecond] : ['', '', '', '']),
          s.port,
          s.cpuPercent,
          s.publishesPerSecond,
          s.cpuMicrosPerPublish,
          Math.round(s.outputBytesPerSecond / 1024),
        ].join(' | '),
      ).map((row) => `| ${row} |`),
    ),
    '',
  ];
  return lines.join('\n');
}

const results: ChannelsResult[] = [];
for (const mode of MODES) {
  process.stderr.write(`channels: ${mode} Redis, ${APPS} apps x ${CLIENTS_PER_APP} clients...\n`);
  results.push(await runMode(mode));
}
const pubsub: PubsubResult[] = [];
for (const mode of PUBSUB_MODES) {
  process.stderr.write(`channels: pub/sub alone on ${mode} Redis...\n`);
  pubsub.push(await runPubsub(mode, APPS, SECONDS));
}
mkdirSync(options.out, { recursive: true });
const report = { at: new Date().toISOString(), cores: (await import('node:os')).cpus().length, options: { APPS, CLIENTS_PER_APP, SECONDS, BATCH, PRODUCERS }, results, pubsub };
writeFileSync(`${options.out}/channels-latest.json`, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${options.out}/channels-latest.md`, markdown(results, pubsub));
process.stdout.write(markdown(results, pubsub));
