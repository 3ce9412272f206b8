#!/usr/bin/env node
/**
 * CI smoke for the load-test scenarios: starts a local cluster (redis-server, two gateways, a
 * worker) and runs every artillery scenario against it at tiny scale (`-e smoke`: 6 virtual
 * users over 3 s), then the harness's churn and rolling-restart scenarios (20 resuming raw
 * clients, a few seconds each). Fails when a scenario reports an error or misses its `ensure`
 * checks, or when a resuming client lost or duplicated a message, so the scenarios keep matching
 * the wire protocols. Needs `npm ci --prefix bench/artillery` (`--no-artillery` skips those).
 *
 *   node bench/dist/smoke.js
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { churnRun, restartRun, type DisruptionResult } from './churn.js';
import { CpuMeter } from './lib/proc.js';
import { LoaderPool } from './load/pool.js';
import { eventBody, failoverHttp, padFor } from './publish.js';
import { startSwitchboard } from './systems.js';

const withArtillery = !process.argv.includes('--no-artillery');

const DIR = fileURLToPath(new URL('../artillery/', import.meta.url));
const ARTILLERY = `${DIR}node_modules/.bin/artillery`;

if (withArtillery && !existsSync(ARTILLERY)) {
  process.stderr.write('artillery is not installed: run `npm ci --prefix bench/artillery` first\n');
  process.exit(1);
}

function artillery(script: string, target: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(ARTILLERY, ['run', '--environment', 'smoke', '--target', target, `${DIR}${script}`], {
      cwd: DIR,
      // No telemetry, no update check: CI has no internet.
      env: { ...process.env, ARTILLERY_DISABLE_TELEMETRY: 'true', ARTILLERY_TELEMETRY_DEFAULTS: '{}', NO_UPDATE_NOTIFIER: '1' },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

const started = performance.now();
const cluster = await startSwitchboard({});
let failures = 0;
try {
  const [gw1, gw2] = cluster.gatewayUrls as [string, string];
  const runs: [string, string][] = [
    ['ws-analytics.yml', `${gw1.replace('http', 'ws')}/ws/analytics`],
    ['socketio-rooms.yml', gw2],
  ];
  for (const [script, target] of withArtillery ? runs : []) {
    process.stderr.write(`\n==> artillery ${script} → ${target}\n`);
    const code = await artillery(script, target);
    if (code !== 0) {
      failures += 1;
      process.stderr.write(`artillery ${script} failed (exit ${code})\n`);
    }
  }
  failures += await disruptions(cluster);
} finally {
  for (const proc of cluster.all) await proc.stop();
}

/** Churn, then a rolling restart, with resuming raw clients: nothing lost, nothing twice. */
async function disruptions(sb: typeof cluster): Promise<number> {
  const pool = await LoaderPool.start(1);
  let failed = 0;
  try {
    const base = {
      pool, kind: 'ws' as const, urls: sb.gatewayUrls.map((u) => `${u.replace('http', 'ws')}/ws/analytics`), clients: 20, resume: true, rate: 20,
      pad: padFor(100), cpu: new CpuMeter({}), progress: (line: string) => process.stderr.write(`${line}\n`),
    };
    const check = (name: string, r: DisruptionResult) => {
      const ok = r.accepted > 0 && r.lost === 0 && r.duplicates === 0 && r.still_open === r.clients;
      process.stderr.write(`${name}: ${r.delivered_pct} % delivered, ${r.duplicates} duplicates, ${r.still_open}/${r.clients} connected — ${ok ? 'ok' : 'FAILED'}\n`);
      if (!ok) failed += 1;
    };
    process.stderr.write('\n==> churn: 20 resuming clients, each away 1 s about every 2 s\n');
    // A publisher per run: its idempotency keys are per run (a second run's would be replays).
    const publisher = () => failoverHttp(sb.gatewayUrls.map((u) => `${u}/events`), eventBody);
    check('churn', await churnRun({ ...base, publisher: publisher(), durationMs: 5000, everyMs: 2000, downMs: 1000 }));
    process.stderr.write('\n==> rolling restart of both gateways\n');
    check('rolling restart', await restartRun({ ...base, publisher: publisher(), gateways: sb.gatewayUrls.length, pauseMs: 1000, restart: (i) => sb.restartGateway(i) }));
  } finally {
    await pool.close();
  }
  return failed;
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`\nbench smoke: ${failures === 0 ? 'all scenarios passed' : `${failures} scenario(s) failed`} in ${seconds} s\n`);
process.exit(failures === 0 ? 0 : 1);
