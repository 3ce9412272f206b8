// A local Redis Cluster for `npm run cluster -- --redis-cluster`: redis-server nodes with cluster
// mode on, joined by `redis-cli --cluster create` (masters plus one replica each), and a check
// that tells when every node agrees the cluster is whole and every replica is in sync.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Masters, and one replica for each: the smallest cluster that survives a master's failure. */
export const MASTERS = 3;
export const REPLICAS_PER_MASTER = 1;
export const NODES = MASTERS * (1 + REPLICAS_PER_MASTER);

/**
 * redis-server arguments for one cluster node. The bus port is given explicitly (Redis 7's
 * `cluster-port`): the default, port + 10000, is out of range for high free ports. Five seconds
 * of silence mark a master failed, so a killed master is replaced within seconds.
 */
export function clusterNodeArgs(port, busPort, dir) {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--protected-mode', 'no',
    '--cluster-enabled', 'yes',
    '--cluster-port', String(busPort),
    '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', '5000',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
  ];
}

/** `redis-cli` against one node; resolves with its standard output. */
export async function redisCli(port, ...args) {
  const { stdout } = await exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

/** Joins the nodes into one cluster: slots over the masters, a replica for each. */
export async function createCluster(ports) {
  const nodes = ports.map((port) => `127.0.0.1:${port}`);
  await exec('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', String(REPLICAS_PER_MASTER), '--cluster-yes'], {
    timeout: 60_000,
  });
}

const field = (info, name) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();

/**
 * True once every node reports the cluster whole (state ok, every slot served, every node known),
 * with the expected masters and every replica's link to its master up.
 */
export async function clusterHealthy(ports) {
  for (const port of ports) {
    const info = await redisCli(port, 'CLUSTER', 'INFO');
    if (field(info, 'cluster_state') !== 'ok') return false;
    if (field(info, 'cluster_slots_ok') !== '16384') return false;
    if (Number(field(info, 'cluster_known_nodes')) !== ports.length) return false;
  }
  const nodes = (await redisCli(ports[0], 'CLUSTER', 'NODES')).trim().split('\n');
  const masters = nodes.filter((line) => line.split(' ')[2].includes('master'));
  if (masters.length !== MASTERS) return false;
  for (const port of ports) {
    const replication = await redisCli(port, 'INFO', 'replication');
    if (field(replication, 'role') === 'slave' && field(replication, 'master_link_status') !== 'up') return false;
  }
  return true;
}

/** `host:port,...` as REDIS_CLUSTER_NODES takes it. */
export const clusterNodesVariable = (ports) => ports.map((port) => `127.0.0.1:${port}`).join(',');
