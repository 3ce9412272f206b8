#!/usr/bin/env node
// Log stream fan-out: one gateway and one worker on a private redis-server; CLIENTS `/ws/logs`
// clients of one app (a tenth of them with a level filter) receive ENTRIES entries posted as
// batches of BATCH. Reports the ingest rate, the time until every client has everything, how many
// frames a client needed (the gateway's batching) and the ingest → client latency of one client.
//
//   npm run build && node bench/logs-fanout.mjs [clients=200] [entries=5000] [batch=10]
// (process helpers come from the harness's build, bench/dist: `npm run build` makes it)
import WebSocket from 'ws';
import { SWITCHBOARD_CLI, startNode, startRedis, until } from './dist/lib/proc.js';

const CLIENTS = Number(process.argv[2] ?? 200);
const ENTRIES = Number(process.argv[3] ?? 5000);
const BATCH = Number(process.argv[4] ?? 10);
const IN_FLIGHT = 16;
const procs = [];
const log = (line) => process.stderr.write(`${line}\n`);

/** Entries in a frame, without parsing it: each entry starts with its id. */
const countEntries = (text) => {
  let n = 0;
  for (let i = text.indexOf('{"id":"'); i !== -1; i = text.indexOf('{"id":"', i + 7)) n += 1;
  return n;
};
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

try {
  const redis = await startRedis();
  procs.push(redis.proc);
  const env = { REDIS_URL: redis.url, LOG_HISTORY_LIMIT: '1000', LOG_LEVEL: 'warn' };
  const gateway = await startNode('gateway', SWITCHBOARD_CLI, ['gateway'], { ...env, NODE_ID: 'bench-gw' }, '/readyz');
  procs.push(gateway.proc);
  const worker = await startNode('worker', SWITCHBOARD_CLI, ['worker'], { ...env, NODE_ID: 'bench-wk' }, '/readyz');
  procs.push(worker.proc);
  const base = `http://127.0.0.1:${gateway.port}`;

  log(`connecting ${CLIENTS} clients...`);
  const filtered = Math.floor(CLIENTS / 10);
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) => new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${gateway.port}/ws/logs`);
      const client = { ws, entries: 0, frames: 0, latencies: i === 0 ? [] : undefined, filtered: i >= CLIENTS - filtered };
      ws.on('error', reject);
      ws.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('{"type":"auth_success"')) return resolve(client);
        if (!text.startsWith('{"type":"logs"') || !text.includes('"offset":')) return;
        client.frames += 1;
        client.entries += countEntries(text);
        if (client.latencies) for (const e of JSON.parse(text).payload) client.latencies.push(Date.now() - e.timestamp);
      });
      ws.on('open', () => {
        ws.send(JSON.stringify({ type: 'auth', data: { userId: `u${i}`, appId: 'bench' } }));
        if (client.filtered) ws.send(JSON.stringify({ type: 'filter', filters: { level: ['error'] } }));
      });
    })),
  );

  log(`posting ${ENTRIES} entries in batches of ${BATCH}, ${IN_FLIGHT} requests in flight...`);
  const requests = Math.ceil(ENTRIES / BATCH);
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < requests) {
        const r = next++;
        const body = Array.from({ length: BATCH }, (_, i) => ({
          appId: 'bench',
          level: (r * BATCH + i) % 10 === 0 ? 'error' : 'info',
          message: `entry ${r * BATCH + i}`,
          metadata: { request: r },
        }));
        const res = await fetch(`${base}/logs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (res.status !== 202) errors += 1;
        await res.arrayBuffer();
      }
    }),
  );
  const ingested = performance.now();
  const expected = (c) => (c.filtered ? ENTRIES / 10 : ENTRIES);
  await until(async () => clients.every((c) => c.entries >= expected(c)), 'every client to have every entry', 120_000);
  const delivered = performance.now();

  const plain = clients.filter((c) => !c.filtered);
  const frames = plain.map((c) => c.frames).sort((a, b) => a - b);
  const latencies = clients[0].latencies.sort((a, b) => a - b);
  const result = {
    clients: CLIENTS,
    filteredClients: filtered,
    entries: ENTRIES,
    batch: BATCH,
    httpErrors: errors,
    ingestEntriesPerSecond: Math.round(ENTRIES / ((ingested - t0) / 1000)),
    allDeliveredSeconds: Number(((delivered - t0) / 1000).toFixed(2)),
    entriesDeliveredPerSecond: Math.round((plain.length * ENTRIES + filtered * (ENTRIES / 10)) / ((delivered - t0) / 1000)),
    framesPerUnfilteredClient: { min: frames[0], median: percentile(frames, 50), max: frames.at(-1), requests },
    latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  for (const c of clients) c.ws.close();
} finally {
  for (const proc of procs.reverse()) proc.child.kill('SIGKILL');
}
