#!/usr/bin/env node
// A real local Redis Cluster: 3 masters and 3 replicas (`redis-server --cluster-enabled yes` on
// free ports, in a temporary directory, joined by `redis-cli --cluster create`). Used by the
// tests (test/support/redis-cluster.ts) and by hand:
//
//   node scripts/redis-cluster.mjs        # prints REDIS_CLUSTER_NODES=...; Ctrl-C stops it
//
// Every node answers only on 127.0.0.1 and keeps nothing on disk beyond its directory.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, until } from './lib/local.mjs';

const run = promisify(execFile);

/** How long a master may be unreachable before its replica takes over (ms): short, for tests. */
const NODE_TIMEOUT_MS = 1_500;

/** Runs one command on one node with a short-lived connection that never retries. */
async function onNode(port, ...args) {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await client.call(...args);
  } finally {
    client.disconnect();
  }
}

/** `field:value` lines (CLUSTER INFO, INFO) as a map. */
const infoFields = (text) => new Map(String(text).split(/\r?\n/).map((line) => line.split(':')).filter((kv) => kv.length === 2));

export class LocalRedisCluster {
  /** @param {string} dir @param {number[]} ports */
  constructor(dir, ports) {
    this.dir = dir;
    this.ports = ports;
    /** @type {Map<number, import('node:child_process').ChildProcess>} */
    this.children = new Map();
    /**
     * Each node's cluster bus port, given explicitly: the default (port + 10000) is out of range
     * for free ports above 55535, and may be taken. @type {Map<number, number>}
     */
    this.busPorts = new Map();
  }

  /** `host:port,...` of every node, as REDIS_CLUSTER_NODES takes it. */
  get nodes() {
    return this.ports.map((port) => `127.0.0.1:${port}`).join(',');
  }

  /** Starts 3 masters + 3 replicas and waits until every node reports cluster_state:ok. */
  static async start({ masters = 3, replicas = 1 } = {}) {
    const count = masters * (1 + replicas);
    const ports = [];
    while (ports.length < count) {
      const port = await freePort();
      if (!ports.includes(port)) ports.push(port);
    }
    const cluster = new LocalRedisCluster(mkdtempSync(join(tmpdir(), 'sb-redis-cluster-')), ports);
    for (const port of ports) {
      let bus = await freePort();
      while (ports.includes(bus) || [...cluster.busPorts.values()].includes(bus)) bus = await freePort();
      cluster.busPorts.set(port, bus);
    }
    try {
      await Promise.all(ports.map((port) => cluster.startNode(port)));
      await run('redis-cli', [
        '--cluster', 'create', ...ports.map((port) => `127.0.0.1:${port}`),
        '--cluster-replicas', String(replicas), '--cluster-yes',
      ]);
      // Replicas join a moment after the slots are assigned: a failover needs them in place.
      await cluster.waitHealthy({ replicas });
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Starts (or restarts, keeping its cluster config) the node on `port`. */
  async startNode(port) {
    const child = spawn(
      'redis-server',
      [
        '--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no',
        '--cluster-enabled', 'yes', '--cluster-port', String(this.busPorts.get(port)),
        '--cluster-config-file', join(this.dir, `nodes-${port}.conf`),
        '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--dir', this.dir,
        '--save', '', '--appendonly', 'no',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    this.children.set(port, child);
    await until(`redis-server on port ${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      return (await onNode(port, 'PING')) === 'PONG';
    });
  }

  /**
   * Waits until every running node reports cluster_state:ok, and every master serving slots has
   * at least `replicas` replicas attached.
   */
  async waitHealthy({ replicas = 0, timeoutMs = 120_000 } = {}) {
    await until('cluster_state:ok on every node', async () => {
      for (const port of this.runningPorts()) {
        const info = infoFields(await onNode(port, 'CLUSTER', 'INFO'));
        if (info.get('cluster_state') !== 'ok') return false;
      }
      const masters = await this.masters();
      return masters.length > 0 && masters.every((m) => m.replicas.length >= replicas);
    }, { timeoutMs });
  }

  runningPorts() {
    return this.ports.filter((port) => {
      const child = this.children.get(port);
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    });
  }

  /**
   * The masters that serve slots, seen from a running node:
   * `{ port, id, slots: [[from, to], ...], replicas: [port, ...] }`.
   */
  async masters() {
    const [port] = this.runningPorts();
    if (port === undefined) return [];
    const shards = /** @type {unknown[][]} */ (await onNode(port, 'CLUSTER', 'SLOTS'));
    const byPort = new Map();
    for (const [from, to, master, ...replicas] of shards) {
      const masterPort = Number(master[1]);
      const entry = byPort.get(masterPort) ?? { port: masterPort, id: String(master[2]), slots: [], replicas: [] };
      entry.slots.push([Number(from), Number(to)]);
      for (const replica of replicas) if (!entry.replicas.includes(Number(replica[1]))) entry.replicas.push(Number(replica[1]));
      byPort.set(masterPort, entry);
    }
    return [...byPort.values()].sort((a, b) => a.port - b.port);
  }

  /** The hash slot of a key (or shard channel), as the cluster computes it. */
  async keySlot(key) {
    const [port] = this.runningPorts();
    return Number(await onNode(port, 'CLUSTER', 'KEYSLOT', key));
  }

  /** The port of the master serving `slot`. */
  async masterOfSlot(slot) {
    const master = (await this.masters()).find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to));
    if (master === undefined) throw new Error(`no master serves slot ${slot}`);
    return master.port;
  }

  /** The port of the master holding `key`. */
  async masterOfKey(key) {
    return this.masterOfSlot(await this.keySlot(key));
  }

  /**
   * Kills the master on `port` with SIGKILL and waits until one of its replicas serves its slots
   * and every running node reports cluster_state:ok again. Resolves with the new master's port.
   */
  async killMaster(port, timeoutMs = 60_000) {
    const before = (await this.masters()).find((m) => m.port === port);
    if (before === undefined) throw new Error(`port ${port} is not a master`);
    await this.killNode(port);
    const promoted = await until(`a replica of ${port} promoted`, async () => {
      const masters = await this.masters();
      const slot = before.slots[0][0];
      const now = masters.find((m) => m.slots.some(([from, to]) => slot >= from && slot <= to));
      return now !== undefined && now.port !== port && before.replicas.includes(now.port) ? now.port : undefined;
    }, { timeoutMs });
    await this.waitHealthy({ timeoutMs });
    return promoted;
  }

  /** Kills one node with SIGKILL, as a crash would. */
  async killNode(port) {
    const child = this.children.get(port);
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /**
   * Restarts a killed node; it rejoins the cluster (as a replica of its successor when it was
   * failed over).
   */
  async restartNode(port, timeoutMs = 60_000) {
    await this.startNode(port);
    await until(`node ${port} rejoined`, async () => {
      const info = infoFields(await onNode(port, 'CLUSTER', 'INFO'));
      return info.get('cluster_state') === 'ok';
    }, { timeoutMs });
  }

  /** Stops every node and removes the directory. */
  async stop() {
    await Promise.all(this.ports.map((port) => this.killNode(port)));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cluster = await LocalRedisCluster.start();
  process.stdout.write(`Redis Cluster up (3 masters, 3 replicas)\nREDIS_CLUSTER_NODES=${cluster.nodes}\n`);
  const stop = () => cluster.stop().finally(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
