import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IoClient } from '../support/socketio-client.js';
import { CLIENT_MESSAGES, encode, payloadOf, socketIoCall } from './arbitraries.js';
import { FuzzCluster, RSS_MARGIN_MIB, casesFor, printFigures, progress, timeoutFor, token, type Watcher } from './harness.js';
import type { Endpoint } from './frames.js';

/**
 * Every client message type on every endpoint, fuzzed against a real gateway, worker and
 * redis-server: `/ws/analytics`, `/ws/availability`, `/ws/logs` before and after auth, and the
 * Socket.IO events of the error and job monitors. Properties: nothing crashes; every frame the
 * client receives is valid JSON and a frame the server may send; a connection is closed only
 * with a documented code (1008 policy, 1009 too big); every Socket.IO acknowledgement is
 * `{ok:true}` or `{ok:false,error}` and the socket stays connected; memory stays bounded.
 */
const BATCH = 16;
/** Close codes the server may end a misbehaving client with. */
const ALLOWED_CLOSES = [1008, 1009];

let cluster: FuzzCluster;

beforeAll(async () => {
  cluster = await FuzzCluster.start();
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
});

/** The message whose answer proves every earlier message was handled, and that answer's type. */
const SYNC: Record<string, [unknown, string]> = {
  analytics: [{ type: 'ping' }, 'pong'],
  availability: [{ type: 'ping' }, 'pong'],
  'logs (before auth)': [{ type: 'ping' }, 'auth_error'],
  'logs (after auth)': [{ type: 'ping' }, 'pong'],
};

describe('client message fuzzing', () => {
  it.each([
    ['analytics', 'analytics', true],
    ['availability', 'availability', true],
    ['logs (before auth)', 'logs', false],
    ['logs (after auth)', 'logs', true],
  ] as [string, Endpoint, boolean][])('/ws/%s', async (label, endpoint, authenticate) => {
    const total = casesFor(800);
    const before = cluster.rss();
    const watcher: Watcher = await cluster.watch(endpoint, { authenticate });
    const [syncMessage, syncType] = SYNC[label] as [unknown, string];
    let done = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(payloadOf(CLIENT_MESSAGES[endpoint]), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          await watcher.ensureOpen();
          const { recorder } = watcher;
          for (const payload of batch) {
            const wire = encode(payload);
            if (recorder.ws.readyState === recorder.ws.OPEN) recorder.ws.send(wire, { binary: typeof wire !== 'string' });
          }
          const mark = recorder.texts.length;
          recorder.send(syncMessage);
          await Promise.race([
            recorder.next((f) => f['type'] === syncType, { from: mark, what: `${syncType} after a batch`, timeoutMs: 60_000 }),
            (async () => {
              while (recorder.closed === undefined) await new Promise((r) => setTimeout(r, 20));
            })(),
          ]);
          done += batch.length;
          progress(`/ws/${label}`, done, total);
          expect(cluster.gateway.child.exitCode).toBeNull();
        }),
        { numRuns: Math.ceil(total / BATCH), endOnFailure: true },
      );
      await watcher.ensureOpen();
      const { invalid, forged } = watcher.problems();
      const crashes = await cluster.crashes();
      const after = cluster.rss();
      printFigures({ endpoint: `/ws/${label} (${watcher.frameCount()} frames, closes ${JSON.stringify(watcher.closes)})`, cases: done, crashes: crashes.length, invalidFrames: invalid.length, forgedFrames: forged.length, rssBeforeMiB: before, rssAfterMiB: after });
      expect([...invalid, ...forged]).toEqual([]);
      expect(watcher.closes.filter((code) => !ALLOWED_CLOSES.includes(code))).toEqual([]);
      expect(crashes).toEqual([]);
      expect(after['gateway']).toBeLessThan((before['gateway'] ?? 0) + RSS_MARGIN_MIB);
    } finally {
      watcher.close();
    }
  }, timeoutFor(casesFor(800)));

  it('Socket.IO events of the error and job monitors', async () => {
    const total = casesFor(800);
    const before = cluster.rss();
    const client = await IoClient.connect(cluster.gateway.url, { auth: { token: token() }, transports: ['websocket'] });
    const problems: string[] = [];
    let done = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(socketIoCall, { minLength: BATCH, maxLength: BATCH }), async (calls) => {
          await Promise.all(
            calls.map(async ({ event, args }) => {
              if (!['subscribe:service', 'unsubscribe:service', 'subscribe:level', 'unsubscribe:level', 'subscribe', 'unsubscribe'].includes(event)) {
                client.socket.emit(event, ...args);
                return;
              }
              const answer = (await client.socket.timeout(30_000).emitWithAck(event, ...args)) as unknown;
              const ok = typeof answer === 'object' && answer !== null ? (answer as { ok?: unknown; error?: unknown }) : undefined;
              const documented = ok?.ok === true || (ok?.ok === false && typeof ok.error === 'string');
              if (!documented) problems.push(`${event} ${JSON.stringify(args).slice(0, 200)} → ${JSON.stringify(answer)}`);
            }),
          );
          done += calls.length;
          progress('Socket.IO', done, total, `, ${problems.length} bad acks`);
          expect(problems).toEqual([]);
          expect(client.socket.connected).toBe(true);
        }),
        { numRuns: Math.ceil(total / BATCH), endOnFailure: true },
      );
      const crashes = await cluster.crashes();
      printFigures({ endpoint: 'Socket.IO monitors', cases: done, crashes: crashes.length, invalidFrames: 0, forgedFrames: 0, rssBeforeMiB: before, rssAfterMiB: cluster.rss() });
      expect(crashes).toEqual([]);
    } finally {
      client.close();
    }
  }, timeoutFor(casesFor(800)));
});
