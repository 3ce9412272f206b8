#!/usr/bin/env node
/**
 * CI smoke for the load-test scenarios: starts a local cluster (redis-server, two gateways, a
 * worker) and runs every artillery scenario against it at tiny scale (`-e smoke`: 6 virtual
 * users over 3 s). Fails when a scenario reports an error or misses its `ensure` checks, so the
 * scenarios keep matching the wire protocols. Needs `npm ci --prefix bench/artillery`.
 *
 *   node bench/dist/smoke.js
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startSwitchboard } from './systems.js';

const DIR = fileURLToPath(new URL('../artillery/', import.meta.url));
const ARTILLERY = `${DIR}node_modules/.bin/artillery`;

if (!existsSync(ARTILLERY)) {
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
  for (const [script, target] of runs) {
    process.stderr.write(`\n==> artillery ${script} → ${target}\n`);
    const code = await artillery(script, target);
    if (code !== 0) {
      failures += 1;
      process.stderr.write(`artillery ${script} failed (exit ${code})\n`);
    }
  }
} finally {
  for (const proc of cluster.all) await proc.stop();
}
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`\nartillery smoke: ${failures === 0 ? 'all scenarios passed' : `${failures} scenario(s) failed`} in ${seconds} s\n`);
process.exit(failures === 0 ? 0 : 1);
