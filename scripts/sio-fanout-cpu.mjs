#!/usr/bin/env node
// CPU each process spends per error report fanned out to Socket.IO clients: POST /report → worker
// → two gateways → CLIENTS WebSocket clients (in no room: each gets `error:new`). CPU time per
// report, unlike deliveries per second, holds on a loaded machine, so two builds can be compared
// when the machine is shared.
//
//   npm run build && node scripts/sio-fanout-cpu.mjs [clients=100] [reports=3000] [bytes=100,1024]
//
// SIO_CLI=<main.js> runs another build's processes (a baseline measured side by side);
// SIO_CPU_PROF=<dir> runs the gateways and the worker under `node --cpu-prof` and stops them with
// SIGTERM at the end, so their profiles are written to <dir>. Needs
// redis-server on PATH; uses free ports only. Prints one JSON line per payload size.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { freePort, until } from './lib/local.mjs';

const CLI = process.env.SIO_CLI ?? fileURLToPath(new URL('../packages/cli/dist/main.js', import.meta.url));
const PROFILE_DIR = process.env.SIO_CPU_PROF;
const clients = Number(process.argv[2] ?? 100);
const reports = Number(process.argv[3] ?? 3000);
const sizes = (process.argv[4] ?? '100,1024').split(',').map(Number);
/** Reports in flight at once. */
const CONCURRENCY = 16;

const ticks = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
};
/** CPU ms (USER_HZ is 100 on every Linux Node runs on). */
const cpuMs = (children) => children.reduce((sum, c) => sum + ticks(c.pid) * 10, 0);

function post(port, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/report', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 202 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const children = [redis];
const sockets = [];
try {
  const env = { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', REDIS_URL: `redis://127.0.0.1:${redisPort}`, WS_RATE_LIMIT_PER_S: '100000' };
  const start = async (role) => {
    const port = await freePort();
    const profile = PROFILE_DIR === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR];
    const child = spawn(process.execPath, [...profile, CLI, role], { env: { ...env, PORT: String(port), NODE_ID: `${role}-${port}` }, stdio: 'ignore' });
    children.push(child);
    await until(`${role} on ${port}`, async () => role !== 'gateway' || (await fetch(`http://127.0.0.1:${port}/readyz`)).ok);
    return { port, child };
  };
  const [a, b, worker] = await Promise.all([start('gateway'), start('gateway'), start('worker')]);
  let received = 0;
  for (let i = 0; i < clients; i++) {
    const ws = new WebSocket(`ws://127.0.0.1:${i % 2 === 0 ? a.port : b.port}/socket.io/?EIO=4&transport=websocket`);
    ws.on('message', (data) => {
      const text = data.toString();
      if (text.startsWith('42["error:new"')) received += 1;
      else if (text === '2') ws.send('3');
      else if (text.startsWith('0')) ws.send('40');
    });
    ws.on('error', () => undefined);
    sockets.push(ws);
  }
  await until('clients connected', () => sockets.every((ws) => ws.readyState === WebSocket.OPEN));
  // Every client has its connect answer (and the server its socket) before the first report.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  for (const bytes of sizes) {
    const pad = 'x'.repeat(Math.max(0, bytes - 40));
    const body = (seq) => JSON.stringify({ service: 'bench', error: { message: 'bench error' }, level: 'error', metadata: { t: Date.now(), seq, pad } });
    received = 0;
    const groups = { gateways: [a.child, b.child], worker: [worker.child], redis: [redis] };
    const before = Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, cpuMs(g)]));
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < reports) {
          const seq = next++;
          await post(seq % 2 === 0 ? a.port : b.port, body(seq));
        }
      }),
    );
    await until('every delivery', () => received >= reports * clients, { timeoutMs: 300_000, intervalMs: 20 });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = Object.fromEntries(Object.entries(groups).map(([k, g]) => [k, Number((((cpuMs(g) - before[k]) * 1000) / reports).toFixed(1))]));
    console.log(JSON.stringify({ clients, reports, bytes, cpu_us_per_report: cpu, deliveries_per_s: Math.round((reports * clients) / seconds), load: loadavg()[0].toFixed(1) }));
  }
  if (PROFILE_DIR !== undefined) {
    // Profiled processes write their profiles when they exit on their own.
    const exits = [a.child, b.child, worker.child].map((child) => new Promise((resolve) => child.once('exit', resolve)));
    for (const child of [a.child, b.child, worker.child]) child.kill('SIGTERM');
    await Promise.race([Promise.all(exits), new Promise((resolve) => setTimeout(resolve, 30_000))]);
  }
} finally {
  for (const ws of sockets) ws.terminate();
  for (const child of children.reverse()) child.kill('SIGKILL');
}
