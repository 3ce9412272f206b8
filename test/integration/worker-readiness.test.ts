import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelKeys } from '@switchboard/engine';
import { CHANNELS, INGEST_GROUP, INGEST_STREAM } from '@switchboard/protocol';
import { RedisServer } from '../support/redis-server.js';
import { NodeProcess, metricValue } from '../support/node-process.js';
import { sleep, waitFor } from '../support/wait.js';

/**
 * A worker's `/readyz` means "consuming": 503 while Redis is down, and 200 again only once the
 * worker reads the ingest stream, so an event sent when it turns 200 is processed at once.
 */
let redis: RedisServer;
let worker: NodeProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  worker = await NodeProcess.start('worker', { REDIS_URL: redis.url, LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  await worker?.stop('SIGKILL');
  await redis?.stop();
});

const readyz = async (): Promise<number> => (await fetch(`${worker.url}/readyz`)).status;

describe('worker readiness across a Redis restart', () => {
  it('is 503 while Redis is down and 200 only once an event sent then is processed promptly', async () => {
    expect(await readyz()).toBe(200);
    await redis.kill();
    await waitFor(async () => (await readyz()) === 503, { what: 'readyz 503 after the kill' });
    expect(metricValue(await worker.metrics(), 'switchboard_redis_up')).toBe(0);
    // Stays 503 for as long as Redis is away, well past every retry timer of the consumer.
    for (const until = Date.now() + 4_000; Date.now() < until; await sleep(100)) {
      expect(await readyz()).toBe(503);
    }

    await redis.restart(); // empty: no stream, no group
    const admin = redis.client();
    await waitFor(async () => (await readyz()) === 200, { what: 'readyz 200 after the restart', timeoutMs: 30_000, intervalMs: 20 });
    const readyAt = Date.now();
    await admin.xadd(INGEST_STREAM, '*', 'kind', 'analytics', 'body', '{"type":"page_view","visitor_id":"after-restart"}');
    // Processed: acknowledged, and its frame in the analytics channel's history.
    const { history } = channelKeys(CHANNELS.analytics);
    const published = async () => (await admin.xrange(history, '-', '+')).some(([, fields]) => fields[1]?.includes('"after-restart"'));
    await waitFor(published, { what: 'the event processed', intervalMs: 20 });
    const processedIn = Date.now() - readyAt;
    console.log(`readiness: event processed ${processedIn} ms after readyz turned 200`);
    expect(processedIn).toBeLessThan(1_500);
    expect(((await admin.xpending(INGEST_STREAM, INGEST_GROUP)) as [number])[0]).toBe(0);
    expect(metricValue(await worker.metrics(), 'switchboard_redis_up')).toBe(1);
    const body = (await (await fetch(`${worker.url}/readyz`)).json()) as Record<string, unknown>;
    expect(body).toMatchObject({ ready: true, consuming: true, redis: 'up' });
    admin.disconnect();
  });
});
