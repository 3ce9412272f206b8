import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFrontStaysUp } from '../support/haproxy.js';
import { nodeClient } from '../support/redis-cluster.js';
import { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { post } from './helpers.js';

/**
 * `npm run cluster` (scripts/cluster.mjs) as a newcomer runs it: Redis (or, with --redis-cluster,
 * a Redis Cluster of 3 masters and 3 replicas), two gateways, a worker and HAProxy in front,
 * reported up only once all of them answer; Ctrl-C stops every part.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/cluster.mjs', import.meta.url));

const refused = async (port: number) => {
  try {
    await fetch(`http://127.0.0.1:${port}/livez`);
    return false;
  } catch {
    return true;
  }
};

/** Whether anything still accepts TCP connections on the port (Redis nodes speak no HTTP). */
const listening = (port: number) => spawnSync('redis-cli', ['-p', String(port), 'PING'], { encoding: 'utf8', timeout: 5_000 }).stdout.trim() === 'PONG';

describe.each([
  { title: 'npm run cluster', args: [] as string[], redisLine: /Cluster up: redis on (\d+);/ },
  { title: 'npm run cluster -- --redis-cluster', args: ['--redis-cluster'], redisLine: /Cluster up: Redis Cluster \(3 masters, 3 replicas\) on ([\d, ]+);/ },
])('$title', ({ args, redisLine }) => {
  let child: ChildProcess;
  const output: string[] = [];
  let front = '';
  let gatewayPorts: number[] = [];
  let redisPorts: number[] = [];

  beforeAll(async () => {
    child = spawn(process.execPath, [SCRIPT, ...args], {
      env: { ...process.env, GATEWAYS: '2', WORKERS: '1', LISTEN: '0', BASE_PORT: '0', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const up = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`cluster script exited ${child.exitCode}: ${output.join('')}`);
        return /Cluster up: .*gateways on (\d+), (\d+);.*front (http:\/\/localhost:\d+\/)/.exec(output.join(''));
      },
      { what: '"Cluster up"', timeoutMs: 85_000 },
    );
    gatewayPorts = [Number(up[1]), Number(up[2])];
    front = up[3]!.replace('localhost', '127.0.0.1').replace(/\/$/, '');
    redisPorts = (redisLine.exec(output.join(''))?.[1] ?? '').split(', ').map(Number);
  });

  afterAll(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('names the Redis it started, which answers', () => {
    expect(redisPorts.length).toBe(args.includes('--redis-cluster') ? 6 : 1);
    for (const port of redisPorts) expect(listening(port), `Redis on ${port}`).toBe(true);
  });

  it('keeps both gateways in rotation well past the health-check window', async () => {
    await expectFrontStaysUp(front, 2);
  });

  it('serves through HAProxy from both gateways, end to end', async () => {
    const nodes = new Set<string>();
    for (let i = 0; i < 4; i++) nodes.add(((await (await fetch(`${front}/health`)).json()) as { node: string }).node);
    expect([...nodes].sort()).toEqual(['gateway-1', 'gateway-2']);
    const client = await TestClient.connect(`${front.replace('http', 'ws')}/ws/analytics`);
    try {
      await client.next((f) => f.type === 'initial_stats');
      expect((await post(front, '/events', { type: 'page_view', visitor_id: 'cluster-script' })).status).toBe(202);
      const event = await client.next((f) => f['visitor_id'] === 'cluster-script', { what: 'the event through the front' });
      expect(event['type']).toBe('page_view');
    } finally {
      client.close();
    }
  });

  it.runIf(args.includes('--redis-cluster'))('runs on the Redis Cluster it started: state ok, 3 masters, keys written on more than one', async () => {
    const masters: number[] = [];
    for (const port of redisPorts) {
      const node = nodeClient(port);
      try {
        expect(await node.call('CLUSTER', 'INFO'), `node ${port}`).toMatch(/cluster_state:ok/);
        if (/role:master/.test(await node.info('replication')) && (await node.dbsize()) > 0) masters.push(port);
      } finally {
        node.disconnect();
      }
    }
    // Channels, statistics and ingest partitions hash to different slots: not all on one shard.
    expect(masters.length).toBeGreaterThanOrEqual(2);
  });

  it('stops every part on Ctrl-C and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const frontPort = Number(new URL(front).port);
    for (const port of [frontPort, ...gatewayPorts]) expect(await refused(port), `port ${port} still answers`).toBe(true);
    for (const port of redisPorts) expect(listening(port), `Redis on ${port} still answers`).toBe(false);
  });
});

describe('npm run cluster, bad arguments', () => {
  it('refuses an unknown argument with the usage and exit code 64, starting nothing', () => {
    const result = spawnSync(process.execPath, [SCRIPT, '--redis-clustr'], { encoding: 'utf8', timeout: 10_000 });
    expect(result.status).toBe(64);
    expect(result.stderr).toMatch(/unknown argument --redis-clustr/);
    expect(result.stderr).toMatch(/usage: npm run cluster \[-- --redis-cluster\]/);
    expect(result.stdout).not.toMatch(/Cluster up/);
  });
});
