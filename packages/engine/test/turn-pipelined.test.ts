import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { turnPipelined } from '../src/redis/connections.js';
import { RedisServer } from '../../../test/support/redis-server.js';

let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await RedisServer.start();
  client = new Redis(redis.url, { enableAutoPipelining: true });
});
afterAll(async () => {
  client?.disconnect();
  await redis?.stop();
});

describe('turnPipelined', () => {
  it('sends the commands of one turn in one pipeline, each answered with its own reply', async () => {
    const pipelines = vi.spyOn(client, 'pipeline');
    const batched = turnPipelined(client);
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => batched.xadd('turn:stream', '*', 'n', String(i))));
    expect(pipelines).toHaveBeenCalledTimes(1);
    expect(new Set(ids).size).toBe(200);
    // Appended in the order issued.
    const entries = await client.xrange('turn:stream', '-', '+');
    expect(entries.map(([id, fields]) => [id, fields[1]])).toEqual(ids.map((id, i) => [id, String(i)]));
    pipelines.mockRestore();
  });

  it('starts the next turn\'s pipeline without waiting for the one in flight', async () => {
    const pipelines = vi.spyOn(client, 'pipeline');
    const batched = turnPipelined(client);
    let firstAnswered = false;
    const first = batched.xadd('turn:stream', '*', 'n', 'a').then(() => (firstAnswered = true));
    await new Promise((resolve) => setImmediate(resolve)); // the first batch is written now
    const second = batched.xadd('turn:stream', '*', 'n', 'b');
    // The second batch exists before the first one's reply could have been read.
    expect(firstAnswered).toBe(false);
    expect(pipelines).toHaveBeenCalledTimes(2);
    await Promise.all([first, second]);
    pipelines.mockRestore();
  });

  it('fails only the command that failed', async () => {
    const batched = turnPipelined(client);
    await client.set('turn:string', 'x');
    const [good, bad] = await Promise.allSettled([batched.xadd('turn:other', '*', 'n', '1'), batched.xadd('turn:string', '*', 'n', '1')]);
    expect(good.status).toBe('fulfilled');
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
  });
});
