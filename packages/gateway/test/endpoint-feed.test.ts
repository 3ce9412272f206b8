import { afterEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { WebSocket } from 'uWebSockets.js';
import { MemoryEngine, type ChannelMessage } from '@switchboard/engine';
import type { GatewayContext } from '../src/context.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { EndpointFeed } from '../src/ws/endpoint-feed.js';
import type { RawSocket } from '../src/ws/raw-endpoint.js';
import { parseResume, withPosition } from '../src/ws/resume.js';
import { SubscriptionMonitor } from '../src/feed/subscription-monitor.js';

const CHANNEL = 'sb:ch:feed-test';

/** A stand-in for a uWS socket: what it was sent, and how it was closed. */
class FakeSocket {
  readonly sent: string[] = [];
  closedWith: number | undefined;
  readonly data: RawSocket = { id: 1, endpoint: 'test', address: '127.0.0.1', claims: undefined, closed: false, turn: Promise.resolve() };
  getUserData = (): RawSocket => this.data;
  cork = (fn: () => void): void => fn();
  send = (frame: string): number => {
    this.sent.push(frame);
    return 1;
  };
  end = (code: number): void => {
    this.closedWith = code;
    this.data.closed = true;
  };
  get ws(): WebSocket<RawSocket> {
    return this as unknown as WebSocket<RawSocket>;
  }
  parsed(): Record<string, unknown>[] {
    return this.sent.map((f) => JSON.parse(f) as Record<string, unknown>);
  }
}

interface Harness {
  engine: MemoryEngine;
  feed: EndpointFeed;
  /** Frames the feed forwarded to its sink, in order. */
  forwarded: ChannelMessage[];
  registry: Registry;
  /** Publishes frames on the channel (not delivered to the feed: the test delivers them). */
  publish(count: number): Promise<ChannelMessage[]>;
}

const engines: MemoryEngine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});

async function harness(historySize = 100): Promise<Harness> {
  const engine = new MemoryEngine({ history: { size: historySize, ttlS: 300 } });
  engines.push(engine);
  await engine.connect();
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const logger = pino({ level: 'silent' });
  const config = { historySize: historySize } as GatewayContext['config'];
  const ctx = { engine, config, metrics, logger, subscription: new SubscriptionMonitor(engine, metrics, logger) } as unknown as GatewayContext;
  const forwarded: ChannelMessage[] = [];
  const feed = new EndpointFeed(ctx, CHANNEL, 'test', (m) => forwarded.push(m));
  await feed.start();
  // The test plays pub/sub: it decides which frames reach the feed.
  await engine.unsubscribe(CHANNEL, feed.onMessage);
  // What pub/sub carried, for the test to hand to the feed (or not).
  const carried: ChannelMessage[] = [];
  await engine.subscribe(CHANNEL, (m) => carried.push(m));
  let n = 0;
  return {
    engine,
    feed,
    forwarded,
    registry,
    async publish(count) {
      for (let i = 0; i < count; i++) await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: CHANNEL, frame: `{"type":"e","n":${n++}}` } });
      await settle();
      return carried.splice(0);
    },
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 20));
const offsets = (messages: { offset: number }[]) => messages.map((m) => m.offset);
const metric = async (registry: Registry, name: string, labels: Record<string, string> = {}) => {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
};

describe('EndpointFeed: the channel feed under a raw endpoint', () => {
  it('starts at the channel position and forwards frames that follow on', async () => {
    const h = await harness();
    expect(h.feed.epoch).toBe((await h.engine.position(CHANNEL)).epoch);
    expect(h.feed.lastOffset).toBe(0);
    for (const m of await h.publish(3)) h.feed.onMessage(m);
    expect(offsets(h.forwarded)).toEqual([1, 2, 3]);
  });

  it('fills a skipped range from history before forwarding the newer frame, and drops duplicates', async () => {
    const h = await harness();
    const messages = await h.publish(5);
    h.feed.onMessage(messages[0]!);
    h.feed.onMessage(messages[3]!); // 2 and 3 lost by pub/sub
    h.feed.onMessage(messages[4]!);
    await settle();
    expect(offsets(h.forwarded)).toEqual([1, 2, 3, 4, 5]);
    h.feed.onMessage(messages[2]!); // a late copy
    expect(offsets(h.forwarded)).toEqual([1, 2, 3, 4, 5]);
    expect(await metric(h.registry, 'switchboard_gateway_gap_fills_total', { reason: 'gap' })).toBe(1);
    // 2 and 3 from history; 4 and 5 may come from either: never twice.
    expect(await metric(h.registry, 'switchboard_gateway_refilled_frames_total')).toBeGreaterThanOrEqual(2);
  });

  it('catches up on frames lost at the end of a burst when the subscription is restored', async () => {
    const h = await harness();
    const messages = await h.publish(4);
    h.feed.onMessage(messages[0]!);
    h.feed.catchUp('restored');
    await settle();
    expect(offsets(h.forwarded)).toEqual([1, 2, 3, 4]);
    expect(await metric(h.registry, 'switchboard_gateway_gap_fills_total', { reason: 'restored' })).toBe(1);
  });

  it('forwards what the history still holds when the hole is older than it: clients stay and see the jump', async () => {
    const h = await harness(3);
    const member = new FakeSocket();
    await h.feed.attach(member.ws, { resume: undefined, first: () => '{"type":"hello"}', replay: () => [], join: () => undefined });
    const messages = await h.publish(8);
    h.feed.onMessage(messages[7]!); // 1..7 lost by pub/sub; the history holds 6, 7 and 8 only
    await settle();
    expect(offsets(h.forwarded)).toEqual([6, 7, 8]);
    expect(member.closedWith).toBeUndefined();
    expect(await metric(h.registry, 'switchboard_gateway_unfilled_holes_total', { cause: 'history_too_short' })).toBe(1);
    for (const m of await h.publish(1)) h.feed.onMessage(m);
    expect(offsets(h.forwarded)).toEqual([6, 7, 8, 9]);
  });
  it('closes its clients with 1012 when the epoch changed, a resume waiting for this node included, and carries on', async () => {
    const h = await harness();
    const messages = await h.publish(2);
    h.feed.onMessage(messages[0]!); // this node is at 1
    const member = new FakeSocket();
    await h.feed.attach(member.ws, { resume: undefined, first: () => '{"type":"hello"}', replay: () => [], join: () => undefined });
    const waiting = new FakeSocket();
    const attaching = h.feed.attach(waiting.ws, {
      resume: { epoch: h.feed.epoch, since: 2 }, // seen elsewhere: this node waits to reach 2
      first: () => '{"type":"hello"}',
      replay: () => [],
      join: () => undefined,
    });
    await settle();
    const old = h.feed.epoch;
    // Redis lost its data: the channel starts over under a new epoch.
    (h.engine as unknown as { channels: Map<string, unknown> }).channels.delete(CHANNEL);
    for (const m of await h.publish(1)) h.feed.onMessage(m);
    await attaching; // woken at once, not after CATCH_UP_TIMEOUT_MS
    expect(member.closedWith).toBe(1012);
    expect(waiting.closedWith).toBe(1012);
    expect(waiting.sent).toEqual([]);
    expect(h.feed.epoch).not.toBe(old);
    expect(h.feed.lastOffset).toBe(1);
    expect(await metric(h.registry, 'switchboard_gateway_unfilled_holes_total', { cause: 'epoch_changed' })).toBe(1);
    for (const m of await h.publish(1)) h.feed.onMessage(m);
    expect(offsets(h.forwarded)).toEqual([1, 2]); // 1 of the old epoch, then 2 of the new one
  });
});

describe('EndpointFeed.attach: first frame, resume, seam', () => {
  it('sends the first frame with the position, and joins the live fan-out right after', async () => {
    const h = await harness();
    for (const m of await h.publish(2)) h.feed.onMessage(m);
    const ws = new FakeSocket();
    let joinedAt: number | undefined;
    await h.feed.attach(ws.ws, { resume: undefined, first: () => '{"type":"hello"}', replay: () => [], join: () => (joinedAt = ws.sent.length) });
    expect(ws.parsed()).toEqual([{ type: 'hello', epoch: h.feed.epoch, offset: 2 }]);
    expect(joinedAt).toBe(1);
  });

  it('replays the missed frames with no duplicate and no gap when frames arrive while it reads', async () => {
    const h = await harness();
    for (const m of await h.publish(3)) h.feed.onMessage(m);
    const later = await h.publish(4); // 4..7, delivered while the connection's first frame is being prepared
    let release!: () => void;
    const firstReady = new Promise<void>((resolve) => (release = resolve));
    const ws = new FakeSocket();
    const joined: number[] = [];
    const attaching = h.feed.attach(ws.ws, {
      resume: { epoch: h.feed.epoch, since: 1 },
      first: async () => {
        await firstReady;
        return '{"type":"hello"}';
      },
      replay: (_ws, messages) => messages.map((m) => m.frame),
      join: () => joined.push(h.feed.lastOffset),
    });
    await settle();
    for (const m of later) h.feed.onMessage(m);
    release();
    await attaching;
    const frames = ws.parsed();
    expect(frames[0]).toEqual({ type: 'hello', epoch: h.feed.epoch, offset: 7 });
    expect(frames[1]).toEqual({ type: 'resumed', recovered: true, epoch: h.feed.epoch, count: 6, offset: 7 });
    expect(frames.slice(2).map((f) => f['offset'])).toEqual([2, 3, 4, 5, 6, 7]);
    // Joined the live fan-out at 7: the next frame (8) reaches it through the topic, once.
    expect(joined).toEqual([7]);
  });

  it('waits for this node to reach an offset the client saw elsewhere before replaying', async () => {
    const h = await harness();
    const messages = await h.publish(5);
    h.feed.onMessage(messages[0]!); // this node is at 1; the client saw up to 4 on another node
    const ws = new FakeSocket();
    const attaching = h.feed.attach(ws.ws, {
      resume: { epoch: h.feed.epoch, since: 4 },
      first: () => '{"type":"hello"}',
      replay: (_ws, missed) => missed.map((m) => m.frame),
      join: () => undefined,
    });
    await settle();
    expect(ws.sent).toEqual([]);
    for (const m of messages.slice(1)) h.feed.onMessage(m);
    await attaching;
    const frames = ws.parsed();
    expect(frames[1]).toMatchObject({ type: 'resumed', recovered: true, count: 1 });
    expect(frames.slice(2).map((f) => f['offset'])).toEqual([5]);
  });

  it('reads history once for connections resuming from the same position at the same time', async () => {
    const h = await harness();
    for (const m of await h.publish(4)) h.feed.onMessage(m);
    const reads = vi.spyOn(h.engine, 'history');
    const sockets = [new FakeSocket(), new FakeSocket(), new FakeSocket()];
    await Promise.all(
      sockets.map((ws) =>
        h.feed.attach(ws.ws, {
          resume: { epoch: h.feed.epoch, since: 1 },
          first: () => '{"type":"hello"}',
          replay: (_ws, missed) => missed.map((m) => m.frame),
          join: () => undefined,
        }),
      ),
    );
    expect(reads).toHaveBeenCalledTimes(1);
    for (const ws of sockets) expect(ws.parsed().slice(2).map((f) => f['offset'])).toEqual([2, 3, 4]);
  });

  it('does not share a history read issued before this node forwarded more: a later resume reads again', async () => {
    const h = await harness();
    for (const m of await h.publish(3)) h.feed.onMessage(m);
    // Reads answer what Redis held when they were made, and come back only when the test says.
    const read = h.engine.history.bind(h.engine);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const reads = vi.spyOn(h.engine, 'history').mockImplementation(async (channel, request) => {
      const result = await read(channel, request);
      await gate;
      return result;
    });
    const attach = (ws: FakeSocket) =>
      h.feed.attach(ws.ws, {
        resume: { epoch: h.feed.epoch, since: 1 },
        first: () => '{"type":"hello"}',
        replay: (_ws, missed) => missed.map((m) => m.frame),
        join: () => undefined,
      });
    const [early, late] = [new FakeSocket(), new FakeSocket()];
    const first = attach(early); // its read holds 2..3
    await settle();
    for (const m of await h.publish(1)) h.feed.onMessage(m); // 4 forwarded while that read is out
    const second = attach(late); // the same request, after 4: that read would miss 4
    await settle();
    release();
    await Promise.all([first, second]);
    expect(reads).toHaveBeenCalledTimes(2);
    for (const ws of [early, late]) {
      expect(ws.parsed()[1]).toMatchObject({ type: 'resumed', recovered: true, count: 3, offset: 4 });
      expect(ws.parsed().slice(2).map((f) => f['offset'])).toEqual([2, 3, 4]);
    }
  });

  it('answers recovered:false with the current position for another epoch or an offset beyond the latest', async () => {
    const h = await harness();
    for (const m of await h.publish(2)) h.feed.onMessage(m);
    for (const resume of [
      { epoch: 'another', since: 1 },
      { epoch: h.feed.epoch, since: 50 },
    ]) {
      const ws = new FakeSocket();
      await h.feed.attach(ws.ws, { resume, first: () => '{"type":"hello"}', replay: () => ['never'], join: () => undefined });
      expect(ws.parsed()).toEqual([
        { type: 'hello', epoch: h.feed.epoch, offset: 2 },
        { type: 'resumed', recovered: false, epoch: h.feed.epoch, offset: 2 },
      ]);
    }
    expect(await metric(h.registry, 'switchboard_resumes_total', { endpoint: 'test', outcome: 'not_recovered' })).toBe(2);
  });
});

describe('recovered:false, counted by reason', () => {
  const notRecovered = (h: Harness, reason: string) => metric(h.registry, 'switchboard_resume_not_recovered_total', { endpoint: 'test', reason });
  const resumeFrom = async (h: Harness, resume: { epoch: string; since: number }) => {
    const ws = new FakeSocket();
    await h.feed.attach(ws.ws, { resume, first: () => '{"type":"hello"}', replay: (_ws, missed) => missed.map((m) => m.frame), join: () => undefined });
    return ws.parsed()[1];
  };

  it('names each cause: another epoch, an offset beyond the channel, one older than the history', async () => {
    const h = await harness(3);
    for (const m of await h.publish(6)) h.feed.onMessage(m); // the history holds 4..6
    expect(await resumeFrom(h, { epoch: 'another', since: 1 })).toMatchObject({ recovered: false });
    expect(await resumeFrom(h, { epoch: h.feed.epoch, since: 9 })).toMatchObject({ recovered: false });
    expect(await resumeFrom(h, { epoch: h.feed.epoch, since: 1 })).toMatchObject({ recovered: false });
    expect(await resumeFrom(h, { epoch: h.feed.epoch, since: 4 })).toMatchObject({ recovered: true, count: 2 });
    expect(await notRecovered(h, 'epoch_changed')).toBe(1);
    expect(await notRecovered(h, 'ahead_of_channel')).toBe(1);
    expect(await notRecovered(h, 'history_too_short')).toBe(1);
    expect(await metric(h.registry, 'switchboard_resumes_total', { endpoint: 'test', outcome: 'not_recovered' })).toBe(3);
  });

  it('counts a history that does not join what this node forwarded as history_gap', async () => {
    const h = await harness();
    for (const m of await h.publish(5)) h.feed.onMessage(m);
    // A read that answers from an older position than this node forwarded (offset 1), with none
    // of the frames 2..5 in it: what the client missed cannot be put together.
    const history = vi.spyOn(h.engine, 'history').mockResolvedValueOnce({ recovered: true, epoch: h.feed.epoch, offset: 1, messages: [] });
    expect(await resumeFrom(h, { epoch: h.feed.epoch, since: 1 })).toMatchObject({ recovered: false, offset: 5 });
    history.mockRestore();
    expect(await notRecovered(h, 'history_gap')).toBe(1);
  });
});

describe('resume input', () => {
  it.each([
    [undefined, undefined, { ok: true, resume: undefined }],
    ['', '', { ok: true, resume: undefined }],
    ['abc', '0', { ok: true, resume: { epoch: 'abc', since: 0 } }],
    ['abc', 12, { ok: true, resume: { epoch: 'abc', since: 12 } }],
  ] as const)('accepts epoch %j since %j', (epoch, since, expected) => {
    expect(parseResume(epoch, since)).toEqual(expected);
  });

  it.each([
    ['abc', undefined, /go together/],
    [undefined, '3', /go together/],
    ['abc', '-1', /^since: /],
    ['abc', '1e3', /^since: /],
    ['abc', '1.5', /^since: /],
    ['abc', -1, /^since: /],
    ['abc', 1.5, /^since: /],
    ['abc', '9999999999999999', /^since: /],
    ['a b', '1', /^epoch: /],
    ['x'.repeat(65), '1', /^epoch: /],
  ] as const)('refuses epoch %j since %j', (epoch, since, error) => {
    const parsed = parseResume(epoch, since);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toMatch(error);
  });

  it('appends the position to a first frame without re-serializing it', () => {
    expect(withPosition('{"type":"connection","clientId":"c"}', 'E1', 7)).toBe('{"type":"connection","clientId":"c","epoch":"E1","offset":7}');
  });
});
