#!/usr/bin/env node
// Measures a drain behind one address: CLIENTS SDK clients (`/ws/analytics`, raw WebSocket)
// spread over two gateways on one Redis, all from 127.0.0.1 (one NAT as far as the gateways
// know); gateway A is taken out of the balancer and drained (SIGTERM -> 1012) and its clients
// reconnect through gateway B. Prints how many upgrades B refused for the per-address rate
// (`429`) and the reconnect time (1012 close -> open again) p50/p99, once per limit setting.
//
//   npm run build && node scripts/reconnect-storm.mjs [clients=1000] [processes=4] [half|all] [raw|socketio]
//
// `half` (default): the clients start spread over both gateways, so half of them move; `all`:
// they all start on A and all move to B at once (the second step of a rolling restart).
// `raw` (default): AnalyticsClient on /ws/analytics; `socketio`: ErrorMonitorClient (Socket.IO,
// WebSocket transport). Both reach the gateways through the same balancer in each process (a
// WebSocket constructor, or a Socket.IO transport, that sends new connections to B once A is
// out): no proxy between clients and gateways, so the figure measures the gateways.
//
// The clients run in `processes` child processes (this file, forked) so one event loop is not
// the bottleneck. Needs redis-server on PATH; uses free ports only.
//
// STORM_SETTINGS=defaults measures the shipped limits only; STORM_CLI=<main.js> runs another
// build's gateways (a baseline measured side by side); STORM_CPU_PROF=<dir> runs the gateways
// and the client processes under `node --cpu-prof` and lets them exit on their own, so their
// profiles of the storm are written to <dir> (the client processes' to <dir>/loaders).
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort, until } from './lib/local.mjs';

const CLI = process.env.STORM_CLI ?? fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const PROFILE_DIR = process.env.STORM_CPU_PROF;

async function main() {
  const clients = Number(process.argv[2] ?? 1000);
  const processes = Number(process.argv[3] ?? 4);
  const placement = process.argv[4] === 'all' ? 'all' : 'half';
  const kind = process.argv[5] === 'socketio' ? 'socketio' : 'raw';
  console.log(`machine: ${cpus().length} cores, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (before)`);
  const settings = [
    { name: 'shipped defaults (rate 200/s, burst 1,000)', env: {} },
    { name: 'no burst (rate 200/s only, as before)', env: { UPGRADE_BURST_PER_ADDRESS: '0' } },
  ].slice(0, process.env.STORM_SETTINGS === 'defaults' ? 1 : 2);
  for (const setting of settings) {
    const result = await measure(clients, processes, placement, kind, setting.env);
    console.log(`${setting.name}: ${JSON.stringify(result)}`);
  }
  console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} (after)`);
}

async function measure(clients, processes, placement, kind, limitEnv) {
  const redisPort = await freePort();
  const redis = spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const children = [redis];
  try {
    const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', REDIS_URL: `redis://127.0.0.1:${redisPort}`, ...limitEnv };
    const start = async (role) => {
      const port = await freePort();
      const profile = role === 'gateway' && PROFILE_DIR !== undefined ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [];
      const child = spawn(process.execPath, [...profile, CLI, role], { env: { ...env, PORT: String(port), NODE_ID: `${role}-${port}` }, stdio: 'ignore' });
      children.push(child);
      await until(`${role} on ${port}`, async () => role !== 'gateway' || (await fetch(`http://127.0.0.1:${port}/readyz`)).ok);
      return { port, child };
    };
    const [a, b] = await Promise.all([start('gateway'), start('gateway'), start('worker')]);

    // The clients: half on A and half on B (or all on A), in `processes` children.
    const loaders = [];
    for (let i = 0; i < processes; i++) {
      const share = Math.floor(clients / processes) + (i < clients % processes ? 1 : 0);
      const execArgv = PROFILE_DIR !== undefined ? ['--cpu-prof', '--cpu-prof-dir', `${PROFILE_DIR}/loaders`] : [];
      const loader = fork(fileURLToPath(import.meta.url), ['--clients'], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.push(loader);
      loader.send({ type: 'start', count: share, ports: placement === 'all' ? [a.port, a.port] : [a.port, b.port], offset: i, other: b.port, kind });
      loaders.push(loader);
    }
    await Promise.all(loaders.map((l) => waitMessage(l, 'open')));
    const refusedBefore = await refusals(b.port);
    // The CPU the storm costs, by process: a figure that holds on a loaded machine, unlike the times.
    const counted = { gateway_b: [b.child], clients: loaders, redis: [redis] };
    const cpuBefore = cpuOf(counted);

    // The balancer takes A out, then A drains.
    for (const loader of loaders) loader.send({ type: 'avoid', port: a.port });
    const drainedAt = Date.now();
    a.child.kill('SIGTERM');
    const reports = await Promise.all(loaders.map((l) => waitMessage(l, 'back', 120_000)));
    const samples = reports.flatMap((r) => r.samples).sort((x, y) => x - y);
    const refused = (await refusals(b.port)) - refusedBefore;
    const cpuAfter = cpuOf(counted);
    for (const loader of loaders) loader.send({ type: 'stop' });
    // Profiled processes write their profiles when they exit on their own.
    if (PROFILE_DIR !== undefined) {
      b.child.kill('SIGTERM');
      const exited = (child) => Promise.race([once(child, 'exit'), new Promise((resolve) => setTimeout(resolve, 30_000))]);
      await Promise.all([b.child, ...loaders].map(exited));
    }
    return {
      clients,
      kind,
      placement,
      moved: samples.length,
      refused_429: refused,
      reconnect_p50_ms: pct(samples, 0.5),
      reconnect_p99_ms: pct(samples, 0.99),
      reconnect_max_ms: samples.at(-1) ?? null,
      all_back_after_ms: Math.max(...reports.map((r) => r.lastOpenAt)) - drainedAt,
      cpu_ms_per_reconnect: Object.fromEntries(Object.keys(counted).map((k) => [k, cpuAfter[k] === undefined ? null : Number(((cpuAfter[k] - cpuBefore[k]) / samples.length).toFixed(2))])),
    };
  } finally {
    for (const child of children.reverse()) child.kill('SIGKILL');
  }
}

/** CPU time (user + system, ms) of each group of processes, from /proc (undefined elsewhere). */
function cpuOf(groups) {
  const ticks = (pid) => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  };
  try {
    return Object.fromEntries(Object.entries(groups).map(([name, children]) => [name, (children.reduce((sum, c) => sum + ticks(c.pid), 0) * 1000) / CLOCK_TICKS_PER_S]));
  } catch {
    return {};
  }
}
/** USER_HZ: 100 on every Linux Node runs on. */
const CLOCK_TICKS_PER_S = 100;

const pct = (sorted, p) => (sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]);

async function refusals(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('switchboard_ws_upgrades_refused_total{') && line.includes('reason="rate_limited"')) total += Number(line.split(' ').at(-1));
  }
  return total;
}

function waitMessage(child, type, timeoutMs = 120_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${type}" from a client process within ${timeoutMs} ms`)), timeoutMs);
    const listener = (message) => {
      if (message?.type !== type) return;
      clearTimeout(timer);
      child.off('message', listener);
      resolve(message);
    };
    child.on('message', listener);
  });
}

/** A client process: opens its share of clients and reports when they are all open, and back after the drain. */
async function runClients() {
  const { default: WebSocket } = await import('ws');
  const { AnalyticsClient, ErrorMonitorClient } = await import('@switchboard/client');
  let avoid;
  let other;
  // The load balancer: once A is out, every new connection goes to B.
  class Balanced extends WebSocket {
    constructor(url) {
      const target = new URL(url);
      if (avoid !== undefined && Number(target.port) === avoid) target.port = String(other);
      super(target.toString());
    }
  }
  const [{ count, ports, offset, other: spare, kind }] = await once(process, 'message');
  // For Socket.IO: the same balancer, in its WebSocket transport (the SDK passes `transports` on).
  const { NodeWebSocket } = await import('socket.io-client');
  class BalancedTransport extends NodeWebSocket {
    createSocket(uri, protocols, opts) {
      const target = new URL(uri);
      if (avoid !== undefined && Number(target.port) === avoid) target.port = String(other);
      return super.createSocket(target.toString(), protocols, opts);
    }
  }
  const open = (port) =>
    kind === 'socketio'
      ? new ErrorMonitorClient({ url: `http://127.0.0.1:${port}`, socketOptions: { transports: [BalancedTransport] } })
      : new AnalyticsClient({ url: `ws://127.0.0.1:${port}`, WebSocket: Balanced });
  const list = [];
  const samples = [];
  let lastOpenAt = 0;
  let waiting = 0;
  for (let i = 0; i < count; i++) {
    const port = ports[(i + offset) % 2];
    const client = open(port);
    const entry = { client, port, lostAt: undefined };
    client.on('disconnect', ({ code }) => {
      // Raw: the drain's 1012; Socket.IO: any disconnect (only the drain causes one here).
      if (code === 1012 || kind === 'socketio') {
        entry.lostAt = Date.now();
        waiting += 1;
      }
    });
    client.on('state', (state) => {
      if (state !== 'open' || entry.lostAt === undefined) return;
      lastOpenAt = Date.now();
      samples.push(lastOpenAt - entry.lostAt);
      entry.lostAt = undefined;
      waiting -= 1;
    });
    client.on('error', () => undefined);
    list.push(entry);
  }
  await until('clients open', () => list.every((e) => e.client.state === 'open'), { timeoutMs: 120_000 });
  process.send({ type: 'open' });
  process.on('message', (message) => {
    if (message.type === 'avoid') {
      avoid = message.port;
      other = spare;
      // Report once every client of A lost its connection and is back (a starved process may
      // notice the drain late: waiting for the count, not for a quiet moment).
      const moving = list.filter((e) => e.port === avoid).length;
      setTimeout(async () => {
        await until('clients back', () => samples.length >= moving && waiting === 0 && list.every((e) => e.client.state === 'open'), { timeoutMs: 110_000 });
        process.send({ type: 'back', samples, lastOpenAt });
      }, 2_000);
    } else if (message.type === 'stop') {
      for (const e of list) e.client.close();
      process.exit(0);
    }
  });
}

if (process.argv[2] === '--clients') await runClients();
else await main();
