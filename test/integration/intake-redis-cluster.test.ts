import { randomUUID } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INGEST_DEAD_LETTER_STREAM, INGEST_GROUP, INGEST_STREAM } from '@switchboard/protocol';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { startTestRedis, type TestRedis } from '../support/test-redis.js';
import { TestClient } from '../support/ws-client.js';
import { sleep, waitFor } from '../support/wait.js';
import { PRODUCER_KEY } from './helpers.js';

/**
 * The one-Redis rule on a Redis Cluster: a producer that XADDs to `sb:ingest` (docs/http-ingest.md,
 * "the stream itself") is read by the workers, which forward each entry into its partition once;
 * a broken entry is dead-lettered with its reason; a worker killed with `kill -9` while it
 * forwards loses nothing and applies nothing twice. Real processes on 3 masters + 3 replicas.
 */
let redis: TestRedis;
let admin: Cluster;
let gateway: NodeProcess;
const workers: NodeProcess[] = [];

beforeAll(async () => {
  redis = await startTestRedis('cluster');
  admin = redis.client() as Cluster;
  const env = { ...redis.env, INGEST_API_KEYS: PRODUCER_KEY, LOG_LEVEL: 'warn' };
  gateway = await NodeProcess.start('gateway', env);
  workers.push(...(await Promise.all([NodeProcess.start('worker', env), NodeProcess.start('worker', env)])));
}, 240_000);

afterAll(async () => {
  admin?.disconnect();
  await Promise.all([gateway, ...workers].filter(Boolean).map((n) => n.stop('SIGKILL')));
  await redis?.stop();
});

/** Appends a page view straight to the intake stream, as a producer in another language would. */
const appendDirect = (id: string, visitor: string) =>
  admin.xadd(INGEST_STREAM, '*', 'kind', 'analytics', 'id', id, 'body', JSON.stringify({ type: 'page_view', visitor_id: visitor }));

const pageViews = (client: TestClient, ids: Set<string>) => client.frames.filter((f) => f.frame.type === 'page_view' && ids.has(f.frame['id'] as string));

async function metricSum(series: string, of: NodeProcess[] = workers): Promise<number> {
  const values = await Promise.all(of.filter((w) => w.child.exitCode === null && w.child.signalCode === null).map(async (w) => metricValue(await w.metrics(), series) ?? 0));
  return values.reduce((a, b) => a + b, 0);
}

describe('direct appends to sb:ingest on a Redis Cluster', () => {
  it('reaches a /ws/analytics client once, and is counted as forwarded', async () => {
    const client = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
    await client.next((f) => f.type === 'initial_stats', { what: 'initial_stats' });
    const id = randomUUID();
    await appendDirect(id, 'direct-1');
    await client.next((f) => f.type === 'page_view' && f['id'] === id, { what: 'the direct entry\'s frame', timeoutMs: 30_000 });
    await sleep(500); // a second copy would show up by now
    expect(pageViews(client, new Set([id]))).toHaveLength(1);
    expect(await metricSum('switchboard_worker_intake_forwarded_total')).toBeGreaterThanOrEqual(1);
    client.close();
  });

  it('dead-letters a malformed direct entry with its reason, and leaves nothing pending', async () => {
    const intakeId = await admin.xadd(INGEST_STREAM, '*', 'kind', 'analytics', 'id', 'not-a-uuid', 'body', '{"type":"page_view"}');
    const letter = await waitFor(
      async () => {
        const letters = await admin.xrange(INGEST_DEAD_LETTER_STREAM, '-', '+');
        const found = letters.map(([, flat]) => Object.fromEntries(flat.flatMap((v, i) => (i % 2 === 0 ? [[v, flat[i + 1]]] : []))) as Record<string, string>);
        return found.find((f) => f['source_id'] === intakeId);
      },
      { what: 'the dead letter', timeoutMs: 30_000 },
    );
    expect(letter['reason']).toMatch(/^id: /);
    expect(letter).toMatchObject({ kind: 'analytics', id: 'not-a-uuid' });
    await waitFor(async () => (await metricSum('switchboard_worker_intake_dead_letters_total')) >= 1, { what: 'the dead letter counted' });
    const pending = (await admin.xpending(INGEST_STREAM, INGEST_GROUP)) as [number];
    expect(pending[0]).toBe(0);
  });

  it('applies every direct entry exactly once when a worker is killed with kill -9 while forwarding', async () => {
    const client = await TestClient.connect(gateway.wsUrl('/ws/analytics'));
    await client.next((f) => f.type === 'initial_stats', { what: 'initial_stats' });
    const [victim, survivor] = workers as [NodeProcess, NodeProcess];
    const victimConsumer = (await victim.json<{ consumer: string }>('/health')).consumer;
    const pendingOnVictim = async () => (await admin.xpending(INGEST_STREAM, INGEST_GROUP, '-', '+', 1000, victimConsumer)).length;

    const appended: string[] = [];
    let flowing = true;
    const producer = (async () => {
      for (let n = 0; flowing; n++) {
        const id = randomUUID();
        await appendDirect(id, `kill-${n}`);
        appended.push(id);
        await sleep(5);
      }
    })();
    await waitFor(() => appended.length >= 50, { what: 'entries flowing' });
    // Frozen, the victim still has entries delivered to it by its blocked read; then it dies
    // with them in hand (mid-forwarding), never acknowledging them.
    victim.child.kill('SIGSTOP');
    await waitFor(async () => (await pendingOnVictim()) > 0, { what: 'intake entries in the victim\'s hands', timeoutMs: 15_000 });
    await victim.stop('SIGKILL');
    const inFlight = await pendingOnVictim();
    expect(inFlight).toBeGreaterThan(0);
    await sleep(1_500); // entries keep coming after the kill
    flowing = false;
    await producer;

    const ids = new Set(appended);
    await waitFor(() => pageViews(client, ids).length >= appended.length, { what: `all ${appended.length} direct entries`, timeoutMs: 60_000 });
    await sleep(1_000); // anything applied twice would show up by now
    const received = pageViews(client, ids).map((f) => f.frame['id'] as string);
    expect(received).toHaveLength(appended.length);
    expect(new Set(received).size).toBe(appended.length);
    // The victim's entries were taken over, and nothing is left on the intake.
    await waitFor(async () => ((await admin.xpending(INGEST_STREAM, INGEST_GROUP)) as [number])[0] === 0, { what: 'nothing pending on the intake' });
    const metrics = await survivor.metrics();
    console.log(`intake kill -9: ${inFlight} entries in the victim's hands; ${appended.length} appended, each applied once; survivor forwarded ${metricValue(metrics, 'switchboard_worker_intake_forwarded_total')}, duplicates ${metricValue(metrics, 'switchboard_worker_intake_duplicates_total')}`);
    expect(metricValue(metrics, 'switchboard_worker_intake_lag')).toBe(0);
    client.close();
  });
});
