#!/usr/bin/env node
// A local cluster for trying Switchboard out (docs/deploy.md): a private redis-server (or, with
// --redis-cluster, a Redis Cluster of 3 masters and 3 replicas), gateways and workers (each a
// real `switchboard` process), HAProxy in front of the gateways with the shipped sticky-session
// config, and a RabbitMQ bridge when RABBITMQ_URL is set. It reports "Cluster up" only once every
// part answers; Ctrl-C drains the nodes and stops everything.
//
//   npm run cluster                              # HAProxy on 8080, gateways on 8081 and 8082
//   npm run cluster -- --redis-cluster           # the same on a local Redis Cluster (REDIS_CLUSTER_NODES)
//   GATEWAYS=3 WORKERS=1 npm run cluster
//   LISTEN=0 BASE_PORT=0 npm run cluster         # any free ports (printed)
//   RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672 npm run cluster   # plus a bridge
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, until } from './lib/local.mjs';
import { LocalRedisCluster } from './redis-cluster.mjs';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const HAPROXY_CONFIG = fileURLToPath(new URL('../deploy/haproxy/haproxy.cfg', import.meta.url));

const count = (name, fallback, min) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < min) {
    process.stderr.write(`${name}: expected an integer of at least ${min}, got "${process.env[name]}"\n`);
    process.exit(64);
  }
  return value;
};
const gateways = count('GATEWAYS', 2, 1);
const workers = count('WORKERS', 2, 1);
const listen = count('LISTEN', 8080, 0);
const basePort = count('BASE_PORT', 8081, 0);
const rabbitmqUrl = process.env.RABBITMQ_URL;
const USAGE = 'usage: npm run cluster [-- --redis-cluster]';
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const unknown = args.filter((arg) => arg !== '--redis-cluster');
if (unknown.length > 0) {
  process.stderr.write(`cluster: unknown argument ${unknown.join(' ')}\n${USAGE}\n`);
  process.exit(64);
}
const redisCluster = args.includes('--redis-cluster');
const READY_TIMEOUT_MS = 60_000;

const children = [];
/** The local Redis Cluster, with --redis-cluster (it owns its nodes' processes). */
let redisClusterNodes;
let stopping = false;
const workDir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-'));

/** `base + offset`, or a free port when the base is 0. */
const portAt = (base, offset) => (base === 0 ? freePort() : Promise.resolve(base + offset));

/** Starts a process whose output is prefixed with its name; an early exit stops the cluster. */
function run(name, command, args, env = {}) {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = `[${name}]`.padEnd(12);
  for (const stream of [child.stdout, child.stderr]) {
    let buffered = '';
    stream.on('data', (chunk) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop();
      for (const line of lines) process.stdout.write(`${prefix} ${line}\n`);
    });
  }
  child.on('exit', (code, signal) => {
    if (stopping) return;
    process.stdout.write(`${prefix} exited (${signal ?? code}): stopping the cluster\n`);
    stop(1);
  });
  children.push({ name, child });
  return child;
}

/** Waits for `check` to answer truthy; fails with `what` after READY_TIMEOUT_MS, or at once when stopping. */
const waitUntil = (what, check) => until(what, check, { timeoutMs: READY_TIMEOUT_MS, shouldStop: () => stopping });

/** Whether a Redis server answers PING on the port. */
const redisAnswers = (port) =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
    socket.once('error', () => done(false));
  });

const ready = async (port) => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;

/** The shipped HAProxy config with one `server` line per gateway (it ships with two). */
function haproxyConfig(gatewayPorts) {
  const shipped = readFileSync(HAPROXY_CONFIG, 'utf8');
  const servers = gatewayPorts.map((port, i) => `    server gw${i + 1} 127.0.0.1:${port} cookie gw${i + 1}`).join('\n');
  const config = `${shipped.replace(/^ {4}server gw\d+ .*\n?/gm, '').trimEnd()}\n${servers}\n`;
  const path = join(workDir, 'haproxy.cfg');
  writeFileSync(path, config);
  return path;
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping the cluster...\n');
  // Everything but Redis first (the nodes drain and may still write), Redis last.
  const isRedis = (c) => c.name === 'redis';
  const redis = children.filter(isRedis).map((c) => c.child);
  const others = children.filter((c) => !isRedis(c)).map((c) => c.child);
  const exited = (child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve)));
  for (const child of others) child.kill('SIGTERM');
  Promise.all(others.map(exited))
    .then(async () => {
      for (const child of redis) child.kill('SIGTERM');
      await Promise.all(redis.map(exited));
      await redisClusterNodes?.stop();
    })
    .finally(() => {
      rmSync(workDir, { recursive: true, force: true });
      process.exit(code);
    });
  setTimeout(() => {
    for (const { child } of children) child.kill('SIGKILL');
    process.exit(code || 1);
  }, 20_000).unref();
}
process.on('SIGINT', () => stop(0));
process.on('SIGTERM', () => stop(0));

/** One redis-server on a free port; the environment that points the nodes at it. */
async function startRedis() {
  const port = await freePort();
  run('redis', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await waitUntil('redis-server', () => redisAnswers(port));
  // Empty values unset what the caller's environment may hold: one Redis setting at a time.
  return { env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CLUSTER_NODES: '' }, summary: `redis on ${port}` };
}

/** 3 masters + 3 replicas on free ports, up once every node reports the cluster whole. */
async function startRedisCluster() {
  redisClusterNodes = await LocalRedisCluster.start();
  if (stopping) throw new Error('stopping');
  const ports = redisClusterNodes.ports.join(', ');
  return { env: { REDIS_CLUSTER_NODES: redisClusterNodes.nodes, REDIS_URL: '' }, summary: `Redis Cluster (3 masters, 3 replicas) on ${ports}` };
}

try {
  const redis = redisCluster ? await startRedisCluster() : await startRedis();
  const env = { ...redis.env, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };

  const workerPorts = [];
  for (let i = 0; i < workers; i++) {
    const port = await portAt(basePort, 100 + i);
    workerPorts.push(port);
    run(`worker-${i + 1}`, process.execPath, [CLI, 'worker'], { ...env, PORT: String(port), NODE_ID: `worker-${i + 1}` });
  }
  const gatewayPorts = [];
  for (let i = 0; i < gateways; i++) {
    const port = await portAt(basePort, i);
    gatewayPorts.push(port);
    // HAProxy connects from 127.0.0.1: its X-Forwarded-For names the client (per-address limits).
    run(`gateway-${i + 1}`, process.execPath, [CLI, 'gateway'], { ...env, PORT: String(port), NODE_ID: `gateway-${i + 1}`, TRUSTED_PROXIES: '127.0.0.1' });
  }
  let bridgePort;
  if (rabbitmqUrl !== undefined) {
    bridgePort = await portAt(basePort, 200);
    run('bridge', process.execPath, [CLI, 'bridge'], { ...env, RABBITMQ_URL: rabbitmqUrl, PORT: String(bridgePort), NODE_ID: 'bridge' });
  }
  await Promise.all([...workerPorts, ...gatewayPorts, ...(bridgePort === undefined ? [] : [bridgePort])].map((port) => waitUntil(`the node on ${port}`, () => ready(port))));

  let front;
  if (spawnSync('sh', ['-c', 'command -v haproxy'], { stdio: 'ignore' }).status === 0) {
    const frontPort = listen === 0 ? await freePort() : listen;
    run('haproxy', 'haproxy', ['-db', '-f', haproxyConfig(gatewayPorts)], { SWITCHBOARD_LISTEN: `127.0.0.1:${frontPort}` });
    // Ready once every gateway has answered through it (round robin visits each in turn).
    const seen = new Set();
    await waitUntil('haproxy', async () => {
      const res = await fetch(`http://127.0.0.1:${frontPort}/health`);
      if (res.status === 200) seen.add((await res.json()).node);
      return seen.size === gateways;
    });
    front = `http://localhost:${frontPort}/`;
  }

  const list = (ports) => ports.join(', ');
  process.stdout.write(
    `\nCluster up: ${redis.summary}; gateways on ${list(gatewayPorts)}; workers' health on ${list(workerPorts)}` +
      `${bridgePort === undefined ? '' : `; bridge's health on ${bridgePort}`}` +
      `${front === undefined ? ' (haproxy not found: no front)' : `; front ${front}`}.\n` +
      `Dashboard: ${front ?? `http://localhost:${gatewayPorts[0]}/`}   Ctrl-C to stop.\n\n`,
  );
} catch (err) {
  if (!stopping) {
    process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    stop(1);
  }
}
