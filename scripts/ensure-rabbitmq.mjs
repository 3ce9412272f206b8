#!/usr/bin/env node
// Makes sure the RabbitMQ broker the bridge tests use is running. A fresh Debian machine that
// just got the package from apt-get (inside a container, without systemd) has the broker
// installed but not started: start it, wait for it, and only then run the tests. When it cannot
// be started from here, stop at once with one line saying how — never a file of failing tests.
//
//   node scripts/ensure-rabbitmq.mjs
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';

const url = new URL(process.env.SWITCHBOARD_TEST_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672');
const host = url.hostname || '127.0.0.1';
const port = Number(url.port || 5672);
const isLocal = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host);

/**
 * Whether an AMQP 0-9-1 broker answers on the broker's address: it must reply to the protocol
 * header with a method frame (Connection.Start). A bare TCP connect is not enough — a proxy or an
 * unrelated server can accept connections too.
 */
const reachable = () =>
  new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ''), port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3_000, () => done(false));
    socket.once('connect', () => socket.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])));
    socket.once('data', (chunk) => done(chunk[0] === 1));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });

const fail = (message) => {
  process.stderr.write(`${message}\n`);
  process.exit(1);
};

if (await reachable()) process.exit(0);

const hint = 'start it with `sudo rabbitmq-server -detached`, or point SWITCHBOARD_TEST_RABBITMQ_URL at a running broker';
if (!isLocal) fail(`RabbitMQ is not reachable at ${host}:${port}: ${hint}`);
const onPath = (binary) => spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
if (!onPath('rabbitmq-server') || !onPath('rabbitmqctl')) fail(`RabbitMQ is not installed: sudo apt-get install -y rabbitmq-server, then ${hint}`);
if (process.getuid?.() !== 0) fail(`RabbitMQ is not running on ${host}:${port}: ${hint}`);

process.stderr.write(`RabbitMQ is not running on ${host}:${port}: starting it (rabbitmq-server -detached)...\n`);
const started = spawnSync('rabbitmq-server', ['-detached'], { stdio: ['ignore', 'ignore', 'inherit'] });
if (started.status !== 0) fail(`rabbitmq-server -detached failed (exit ${started.status}): ${hint}`);

// await_startup returns once the node boots; its own timeout covers a slow first start (Mnesia
// schema creation) on a loaded machine, and the loop covers the moments before the node answers.
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const deadline = Date.now() + 180_000;
let booted = false;
while (!booted && Date.now() < deadline) {
  booted = spawnSync('rabbitmqctl', ['-q', 'await_startup', '--timeout', '30'], { stdio: 'ignore' }).status === 0;
  if (!booted) await sleep(2_000);
}
if (!booted) fail(`RabbitMQ did not come up within 3 minutes: ${hint}`);
// Booted: the AMQP listener opens with the node, so a few seconds settle it either way.
for (let attempt = 0; attempt < 15; attempt++) {
  if (await reachable()) {
    process.stderr.write('RabbitMQ is up.\n');
    process.exit(0);
  }
  await sleep(1_000);
}
fail(`RabbitMQ runs but no AMQP listener answers on ${host}:${port}: check its listeners, or set SWITCHBOARD_TEST_RABBITMQ_URL`);
