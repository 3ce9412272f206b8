import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectFrontStaysUp } from '../support/haproxy.js';
import { TestClient } from '../support/ws-client.js';
import { waitFor } from '../support/wait.js';
import { post } from './helpers.js';

/**
 * `npm run cluster` (scripts/cluster.mjs) as a newcomer runs it: Redis, two gateways, a worker
 * and HAProxy in front, reported up only once all of them answer; Ctrl-C stops every part.
 */
const SCRIPT = fileURLToPath(new URL('../../scripts/cluster.mjs', import.meta.url));
let child: ChildProcess;
const output: string[] = [];
let front = '';
let gatewayPorts: number[] = [];

const refused = async (port: number) => {
  try {
    await fetch(`http://127.0.0.1:${port}/livez`);
    return false;
  } catch {
    return true;
  }
};

beforeAll(async () => {
  child = spawn(process.execPath, [SCRIPT], {
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
    { what: '"Cluster up"', timeoutMs: 80_000 },
  );
  gatewayPorts = [Number(up[1]), Number(up[2])];
  front = up[3]!.replace('localhost', '127.0.0.1').replace(/\/$/, '');
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
});

describe('npm run cluster', () => {
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

  it('stops every part on Ctrl-C and exits 0', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const frontPort = Number(new URL(front).port);
    for (const port of [frontPort, ...gatewayPorts]) expect(await refused(port), `port ${port} still answers`).toBe(true);
  });
});
