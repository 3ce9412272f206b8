import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESERVED_EVENT_TYPES } from '@switchboard/protocol';
import { IoClient } from '../support/socketio-client.js';
import { metricValue } from '../support/node-process.js';
import { waitFor } from '../support/wait.js';
import { PRODUCER_KEY } from '../integration/helpers.js';
import { INGEST_BODIES, LOG_BODIES, encode, excerpt, payloadOf, streamEntry, type Payload } from './arbitraries.js';
import { errorRecordProblem } from './frames.js';
import {
  FuzzCluster,
  RSS_MARGIN_MIB,
  casesFor,
  printFigures,
  progress,
  timeoutFor,
  token,
  type Watcher,
} from './harness.js';

/**
 * Every ingest body (HTTP routes and direct XADD stream entries), fuzzed against a real gateway,
 * worker and redis-server. Properties: each answer is 202 {id}, 400 {error} or 413 {error}; a
 * reserved event type is never accepted; nothing crashes; every frame any client receives is
 * valid JSON and a frame the server may send; the worker fails no entry after validation (every
 * entry is applied or dead-lettered, none left pending); memory stays bounded.
 */
const BATCH = 16;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESERVED = new Set<string>(RESERVED_EVENT_TYPES);

let cluster: FuzzCluster;
let watchers: Watcher[];
let monitor: IoClient;
const rssAtStart: Record<string, number> = {};

async function send(path: string, payload: Payload): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${cluster.gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${PRODUCER_KEY}` },
    body: ((wire) => (typeof wire === 'string' ? wire : Uint8Array.from(wire).buffer))(encode(payload)),
  });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

/** Why an answer is not one of the documented ones; undefined when it is. */
function answerProblem(path: string, payload: Payload, answer: { status: number; type: string; text: string }): string | undefined {
  if (![202, 400, 413].includes(answer.status)) return `status ${answer.status}`;
  if (!answer.type.startsWith('application/json')) return `content-type ${answer.type}`;
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(answer.text) as Record<string, unknown>;
  } catch {
    return 'answer is not JSON';
  }
  if (answer.status !== 202) return typeof body['error'] === 'string' && body['error'] !== '' ? undefined : 'refusal without an error';
  if (typeof body['id'] !== 'string' || !UUID.test(body['id'])) return 'accepted without a UUID id';
  const type = 'json' in payload && typeof payload.json === 'object' && payload.json !== null ? (payload.json as { type?: unknown }).type : undefined;
  if (path === '/events' && typeof type === 'string' && RESERVED.has(type.trim().toLowerCase())) return `reserved type ${type} accepted`;
  return undefined;
}

beforeAll(async () => {
  cluster = await FuzzCluster.start();
  watchers = await Promise.all([cluster.watch('analytics'), cluster.watch('availability'), cluster.watch('logs')]);
  monitor = await IoClient.connect(cluster.gateway.url, { auth: { token: token() }, transports: ['websocket'] });
  Object.assign(rssAtStart, cluster.rss());
}, 120_000);

afterAll(async () => {
  for (const w of watchers ?? []) w.close();
  monitor?.close();
  await cluster?.stop();
});

describe('ingest fuzzing', () => {
  const routes = [...Object.entries(INGEST_BODIES), ...Object.entries(LOG_BODIES)] as [string, fc.Arbitrary<unknown>][];

  it.each(routes)('POST %s answers only documented statuses, with JSON', async (label, body) => {
    const path = label.startsWith('/logs') ? '/logs' : label;
    const total = casesFor(800);
    const before = cluster.rss();
    let done = 0;
    const problems: string[] = [];
    await fc.assert(
      fc.asyncProperty(fc.array(payloadOf(body), { minLength: BATCH, maxLength: BATCH }), async (batch) => {
        const answers = await Promise.all(batch.map((p) => send(path, p)));
        batch.forEach((payload, i) => {
          const problem = answerProblem(path, payload, answers[i] as never);
          if (problem !== undefined) problems.push(`${problem}: ${excerpt(payload)} → ${answers[i]?.text.slice(0, 200)}`);
        });
        done += batch.length;
        progress(label, done, total, `, ${problems.length} bad answers`);
        expect(problems).toEqual([]);
      }),
      { numRuns: Math.ceil(total / BATCH), endOnFailure: true },
    );
    const crashes = await cluster.crashes();
    printFigures({ endpoint: `POST ${label}`, cases: done, crashes: crashes.length, invalidFrames: 0, forgedFrames: 0, rssBeforeMiB: before, rssAfterMiB: cluster.rss() });
    expect(crashes).toEqual([]);
  }, timeoutFor(casesFor(800)));

  it('direct XADD stream entries are applied or dead-lettered, never failed after validation nor left pending', async () => {
    const total = casesFor(800);
    const before = cluster.rss();
    let done = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(streamEntry, { minLength: BATCH, maxLength: BATCH }), async (entries) => {
        const pipeline = cluster.redis.pipeline();
        for (const fields of entries) pipeline.xadd('sb:ingest', '*', ...Object.entries(fields).flat());
        await pipeline.exec();
        done += entries.length;
        progress('XADD sb:ingest', done, total);
        expect(cluster.worker.child.exitCode).toBeNull();
      }),
      { numRuns: Math.ceil(total / BATCH), endOnFailure: true },
    );
    await waitFor(
      async () => {
        const pending = ((await cluster.redis.xpending('sb:ingest', 'workers')) as [number])[0];
        const groups = (await cluster.redis.xinfo('GROUPS', 'sb:ingest')) as unknown[][];
        const flat = groups[0] ?? [];
        const lag = flat[flat.indexOf('lag') + 1];
        return pending === 0 && lag === 0;
      },
      { what: 'the worker to apply or dead-letter every entry', timeoutMs: 60_000 + total * 5 },
    );
    const metrics = await cluster.worker.metrics();
    const failedAfterValidation = ['commit_error', 'poison'].flatMap((reason) =>
      metrics.split('\n').filter((line) => line.startsWith('switchboard_worker_events_failed_total') && line.includes(`reason="${reason}"`)),
    );
    const crashes = await cluster.crashes();
    printFigures({ endpoint: 'XADD sb:ingest', cases: done, crashes: crashes.length, invalidFrames: 0, forgedFrames: 0, rssBeforeMiB: before, rssAfterMiB: cluster.rss() });
    expect(failedAfterValidation.filter((line) => !line.endsWith(' 0'))).toEqual([]);
    // Producer-chosen kinds must not become metric series (one each, without bound).
    const kinds = new Set([...metrics.matchAll(/^switchboard_worker_\w+\{[^}]*kind="([^"]*)"/gm)].map((m) => m[1]));
    expect(kinds.size).toBeGreaterThan(0);
    expect([...kinds].filter((k) => !['analytics', 'error', 'job', 'logs', 'logs_clear', 'availability', 'unknown'].includes(k as string))).toEqual([]);
    expect(metricValue(metrics, 'switchboard_worker_events_failed_total{kind="analytics",reason="invalid"}')).toBeGreaterThan(0);
    expect(crashes).toEqual([]);
  }, timeoutFor(casesFor(800)) + 60_000);

  it('every frame clients received was valid JSON and one the server may send; memory stayed bounded', async () => {
    // Everything accepted has been delivered by now: a last marker proves the pipeline still flows.
    const marker = `marker-${Date.now()}`;
    expect((await send('/events', { json: { type: 'page_view', visitor_id: marker } })).status).toBe(202);
    await watchers[0]?.recorder.next((f) => f['visitor_id'] === marker, { what: 'the marker event' });
    const found = watchers.map((w) => ({ endpoint: w.endpoint, frames: w.frameCount(), ...w.problems() }));
    const records = monitor.payloads('error:new');
    const badRecords = records.map(errorRecordProblem).filter((p) => p !== undefined);
    const after = cluster.rss();
    for (const f of found) {
      printFigures({ endpoint: `watcher /ws/${f.endpoint} (${f.frames} frames)`, cases: f.frames, crashes: 0, invalidFrames: f.invalid.length, forgedFrames: f.forged.length, rssBeforeMiB: rssAtStart, rssAfterMiB: after });
    }
    console.log(`[fuzz] Socket.IO error:new records received: ${records.length}, malformed: ${badRecords.length}`);
    expect(found.flatMap((f) => [...f.invalid, ...f.forged])).toEqual([]);
    expect(badRecords).toEqual([]);
    expect(found.find((f) => f.endpoint === 'analytics')?.frames).toBeGreaterThan(0);
    expect(monitor.socket.connected).toBe(true);
    for (const [role, mib] of Object.entries(after)) expect(mib, `${role} RSS`).toBeLessThan((rssAtStart[role] ?? 0) + RSS_MARGIN_MIB);
    expect(await cluster.crashes()).toEqual([]);
  }, 120_000);
});
