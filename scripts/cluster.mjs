#!/usr/bin/env node
// A local cluster for trying Switchboard out: a private redis-server, two gateways and two
// workers, each a real `switchboard` process. Ctrl-C stops everything.
//
//   npm run cluster                 # gateways on 8081 and 8082
//   GATEWAYS=3 WORKERS=1 npm run cluster
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const gateways = Number(process.env.GATEWAYS ?? 2);
const workers = Number(process.env.WORKERS ?? 2);
const basePort = Number(process.env.BASE_PORT ?? 8081);
const children = [];

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

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
    if (!stopping) process.stdout.write(`${prefix} exited (${signal ?? code})\n`);
  });
  children.push(child);
  return child;
}

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping the cluster...\n');
  // Nodes first (they drain), Redis last.
  const [redis, ...nodes] = children;
  const exits = nodes.map((child) => new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r))));
  for (const child of nodes) child.kill('SIGTERM');
  Promise.all(exits).then(() => {
    redis.kill('SIGTERM');
    redis.once('exit', () => process.exit(0));
  });
  setTimeout(() => process.exit(0), 15000).unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const redisPort = await freePort();
run('redis', 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: process.env.LOG_LEVEL ?? 'info' };
await new Promise((r) => setTimeout(r, 300));
for (let i = 0; i < workers; i++) run(`worker-${i + 1}`, process.execPath, [CLI, 'worker'], { ...env, PORT: String(basePort + 100 + i), NODE_ID: `worker-${i + 1}` });
for (let i = 0; i < gateways; i++) run(`gateway-${i + 1}`, process.execPath, [CLI, 'gateway'], { ...env, PORT: String(basePort + i), NODE_ID: `gateway-${i + 1}` });

setTimeout(() => {
  process.stdout.write(`\nCluster up: redis on ${redisPort}; gateways on ${Array.from({ length: gateways }, (_, i) => basePort + i).join(', ')}; workers' health on ${Array.from({ length: workers }, (_, i) => basePort + 100 + i).join(', ')}.\n`);
  process.stdout.write(`Dashboard: http://localhost:${basePort}/   Ctrl-C to stop.\n\n`);
}, 1500);
