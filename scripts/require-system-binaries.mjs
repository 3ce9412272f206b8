#!/usr/bin/env node
// Makes sure the system binaries the tests drive are on PATH. Missing ones are installed with
// apt-get when running as root on Debian/Ubuntu; otherwise this stops at once with one line
// saying what to install — never a wall of failing tests.
//
//   node scripts/require-system-binaries.mjs redis-server [haproxy ...]
import { execFileSync, spawnSync } from 'node:child_process';

/** binary → Debian package */
const PACKAGES = {
  'redis-server': 'redis-server',
  'redis-cli': 'redis-tools',
  haproxy: 'haproxy',
  chromium: 'chromium',
  'rabbitmq-server': 'rabbitmq-server',
};

const onPath = (binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
const wanted = process.argv.slice(2);
const missing = wanted.filter((binary) => !onPath(binary));
if (missing.length === 0) process.exit(0);

const packages = missing.map((binary) => PACKAGES[binary] ?? binary);
const canInstall = process.getuid?.() === 0 && onPath('apt-get') && process.env.SWITCHBOARD_NO_APT !== '1';
if (!canInstall) {
  process.stderr.write(
    `missing system binaries: ${missing.join(', ')} — install with: sudo apt-get install -y ${packages.join(' ')}\n`,
  );
  process.exit(1);
}

process.stderr.write(`installing ${packages.join(', ')} with apt-get (missing: ${missing.join(', ')})...\n`);
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
} catch {
  process.stderr.write(`apt-get could not install ${packages.join(' ')}: install it by hand and retry\n`);
  process.exit(1);
}
const still = missing.filter((binary) => !onPath(binary));
if (still.length > 0) {
  process.stderr.write(`still missing after install: ${still.join(', ')}\n`);
  process.exit(1);
}
