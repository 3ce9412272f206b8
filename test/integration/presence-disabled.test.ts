import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeProcess } from '../support/node-process.js';
import { RedisServer } from '../support/redis-server.js';
import { IoClient } from '../support/socketio-client.js';
import { TestClient } from '../support/ws-client.js';
import { PRODUCER_KEY } from './helpers.js';

/**
 * `PRESENCE_ENABLED=false` (docs/presence.md#switching-it-off-and-what-it-costs): a real gateway
 * tracks no connection, and refuses clients' presence messages with an error naming the switch.
 */
let redis: RedisServer;
let gateway: NodeProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  gateway = await NodeProcess.start('gateway', { REDIS_URL: redis.url, INGEST_API_KEYS: PRODUCER_KEY, PRESENCE_ENABLED: 'false', LOG_LEVEL: 'warn' });
});

afterAll(async () => {
  await gateway?.stop('SIGKILL');
  await redis?.stop();
});

describe('presence switched off', () => {
  it('answers raw presence messages with an error and tracks no connection', async () => {
    const client = await TestClient.connect(gateway.wsUrl('/ws/analytics?clientId=not-tracked-1'));
    try {
      client.send({ type: 'presence_subscribe' });
      expect((await client.next((f) => f.type === 'error'))['message']).toMatch(/PRESENCE_ENABLED=false/);
      // Nothing was written for this connection (the tracker would have within 50 ms).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const direct = redis.client();
      try {
        expect(await direct.keys('*presence*')).toEqual([]);
      } finally {
        direct.disconnect();
      }
    } finally {
      client.ws.terminate();
    }
  });

  it('answers Socket.IO presence events with ok:false', async () => {
    const client = await IoClient.connect(gateway.url, { transports: ['websocket'] });
    try {
      const answer = (await client.ack('presence:get', 'errors')) as { ok: boolean; error: string };
      expect(answer.ok).toBe(false);
      expect(answer.error).toMatch(/PRESENCE_ENABLED=false/);
      expect(await client.ack('presence:subscribe', 'errors')).toMatchObject({ ok: false });
    } finally {
      client.close();
    }
  });
});
