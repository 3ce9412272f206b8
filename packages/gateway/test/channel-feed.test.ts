import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { MemoryEngine, type ChannelHandler, type ChannelMessage } from '@switchboard/engine';
import { ChannelFeed, type ChannelPosition, type FeedOptions } from '../src/feed/channel-feed.js';
import { SubscriptionMonitor } from '../src/feed/subscription-monitor.js';
import { createGatewayMetrics } from '../src/metrics.js';

/**
 * The one ordered, hole-filling channel feed behind every raw endpoint and Socket.IO, on the
 * real in-memory engine. Frames are "lost in transit" by a filter between the engine and the
 * feed's subscription.
 */
const CHANNEL = 'sb:ch:test-feed';
const HISTORY_SIZE = 5;
const logger = pino({ level: 'silent' });
const frame = (n: number) => JSON.stringify({ n });
/** Lets the engine's deliveries and the feed's history reads (all in memory) run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

let engine: MemoryEngine;
let registry: Registry;
let monitor: SubscriptionMonitor;
let dropped: Set<number>;
let delivered: number[];
let feeds: ChannelFeed[];

const publish = (...ns: number[]) => engine.commit({ guard: { kind: 'none' }, ops: [], publish: ns.map((n) => ({ channel: CHANNEL, frame: frame(n) })) });
const offsetsOf = (messages: ChannelMessage[]) => messages.map((m) => m.offset);
const metric = async (name: string, labels: Record<string, string> = {}) => {
  const found = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = found?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
};
/** What Redis losing its data does to a channel: its state is gone, the next use starts a new epoch. */
const loseChannel = () => (engine as unknown as { channels: Map<string, unknown> }).channels.delete(CHANNEL);

function makeFeed(options: Partial<FeedOptions> = {}): ChannelFeed {
  const metrics = createGatewayMetrics(registry);
  monitor = new SubscriptionMonitor(engine, metrics, logger);
  const feed = new ChannelFeed(
    { engine, metrics, logger, subscription: monitor, historySize: HISTORY_SIZE },
    { channel: CHANNEL, deliver: (m) => delivered.push(m.offset), afterEpochChange: 'latest', ...options },
  );
  feeds.push(feed);
  return feed;
}

beforeEach(async () => {
  engine = new MemoryEngine({ history: { size: HISTORY_SIZE, ttlS: 60 } });
  await engine.connect();
  registry = new Registry();
  dropped = new Set();
  delivered = [];
  feeds = [];
  // Frames whose `n` is in `dropped` never reach the feed live.
  const subscribe = engine.subscribe.bind(engine);
  engine.subscribe = (channel: string, handler: ChannelHandler) =>
    subscribe(channel, (m) => {
      if (!dropped.has((JSON.parse(m.frame) as { n: number }).n)) handler(m);
    });
});

afterEach(async () => {
  for (const feed of feeds) await feed.stop();
  await engine.close();
});

describe('ChannelFeed: each offset once, in order', () => {
  it('starts at the channel position (earlier frames had nobody here) and registers with the subscription monitor', async () => {
    await publish(1, 2);
    const feed = makeFeed();
    await feed.start();
    expect(feed.position()).toEqual({ epoch: (await engine.position(CHANNEL)).epoch, offset: 2 });
    expect(monitor.feeds.has(feed)).toBe(true);
    await publish(3, 4);
    await settle();
    expect(delivered).toEqual([3, 4]);
    await feed.stop();
    expect(monitor.feeds.has(feed)).toBe(false);
  });

  it('fills a hole from history before delivering the frame after it, drops late copies, and counts the fill once', async () => {
    const feed = makeFeed();
    await feed.start();
    dropped = new Set([2, 3]);
    await publish(1, 2, 3, 4, 5);
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    const late = await engine.history(CHANNEL, { epoch: feed.epoch, since: 1 });
    if (!late.recovered) throw new Error('history expected');
    feed.onMessage(late.messages[1] as ChannelMessage); // offset 3 again
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(await metric('switchboard_gateway_gap_fills_total', { reason: 'gap' })).toBe(1);
    expect(await metric('switchboard_gateway_refilled_frames_total')).toBeGreaterThanOrEqual(2);
  });

  it('delivers what the history still holds when the hole is older than it, counts the unfilled hole, and goes on', async () => {
    const feed = makeFeed();
    await feed.start();
    dropped = new Set([1, 2, 3, 4, 5, 6, 7]);
    await publish(1, 2, 3, 4, 5, 6, 7); // the history keeps 5 frames: 1 and 2 are gone
    dropped = new Set();
    await publish(8);
    await settle();
    expect(delivered).toEqual([4, 5, 6, 7, 8]);
    expect(await metric('switchboard_gateway_unfilled_holes_total', { cause: 'history_too_short' })).toBe(1);
    await publish(9);
    await settle();
    expect(delivered).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('catches up on frames lost at the tail when told the subscription came back, by reason', async () => {
    const feed = makeFeed();
    await feed.start();
    dropped = new Set([1, 2]);
    await publish(1, 2);
    await settle();
    expect(delivered).toEqual([]);
    feed.catchUp('restored');
    await settle();
    expect(delivered).toEqual([1, 2]);
    expect(await metric('switchboard_gateway_gap_fills_total', { reason: 'restored' })).toBe(1);
    expect(await metric('switchboard_gateway_refilled_frames_total')).toBe(2);
  });

  it('retries a history read that fails (Redis away) and fills the hole once it answers', async () => {
    const feed = makeFeed();
    await feed.start();
    const history = vi.spyOn(engine, 'history').mockRejectedValueOnce(new Error('connection lost'));
    dropped = new Set([1]);
    await publish(1, 2);
    await settle();
    expect(delivered).toEqual([]);
    await vi.waitFor(() => expect(delivered).toEqual([1, 2]), { timeout: 2_000 });
    expect(history).toHaveBeenCalledTimes(2);
  });

  it('logs a throwing delivery and keeps delivering the next frames', async () => {
    const seen: number[] = [];
    const feed = makeFeed({
      deliver: (m) => {
        seen.push(m.offset);
        if (m.offset === 1) throw new Error('a bug in a sink');
      },
    });
    await feed.start();
    await publish(1, 2);
    await settle();
    expect(seen).toEqual([1, 2]);
    expect(feed.lastOffset).toBe(2);
  });
});

describe('ChannelFeed: epoch changes', () => {
  it("'latest': tells the owner and carries on from the new epoch's current offset", async () => {
    const changes: [ChannelPosition, ChannelPosition][] = [];
    const feed = makeFeed({ afterEpochChange: 'latest', epochChanged: (from, to) => changes.push([from, to]) });
    await publish(1, 2);
    await feed.start();
    const old = feed.epoch;
    loseChannel();
    dropped = new Set([1, 2]);
    await publish(1, 2); // offsets 1 and 2 of a new epoch, lost in transit
    dropped = new Set();
    await publish(3);
    await settle();
    const now = await engine.position(CHANNEL);
    expect(now.epoch).not.toBe(old);
    expect(changes).toEqual([[{ epoch: old, offset: 2 }, now]]);
    expect(delivered).toEqual([]); // offset 3 was published before the feed moved to the new epoch
    expect(feed.position()).toEqual(now);
    expect(await metric('switchboard_gateway_unfilled_holes_total', { cause: 'epoch_changed' })).toBe(1);
    await publish(4);
    await settle();
    expect(delivered).toEqual([4]);
  });

  it("'first': delivers the new epoch from its first frame, as far as the history holds it", async () => {
    const changes: string[] = [];
    const feed = makeFeed({ afterEpochChange: 'first', epochChanged: (_from, to) => changes.push(to.epoch) });
    await publish(1, 2);
    await feed.start();
    loseChannel();
    dropped = new Set([1, 2]);
    await publish(1, 2);
    dropped = new Set();
    await publish(3);
    await settle();
    const now = await engine.position(CHANNEL);
    expect(changes).toEqual([now.epoch]);
    expect(delivered).toEqual([1, 2, 3]);
    expect(feed.position()).toEqual(now);
  });

  it("'first': a new epoch noticed by a catch-up (no frame of it arrived) is read from its start too", async () => {
    const feed = makeFeed({ afterEpochChange: 'first' });
    await feed.start();
    loseChannel();
    dropped = new Set([1, 2]);
    await publish(1, 2);
    feed.catchUp('probe');
    await settle();
    expect(delivered).toEqual([1, 2]);
    expect(feed.epoch).toBe((await engine.position(CHANNEL)).epoch);
  });
});

describe('ChannelFeed: hold and advance (Socket.IO session recovery)', () => {
  it('holds live frames while a recovery runs, and delivers them after it, once', async () => {
    const feed = makeFeed();
    await feed.start();
    await publish(1);
    await settle();
    const release = feed.hold();
    await publish(2, 3);
    await settle();
    expect(delivered).toEqual([1]);
    // A recovery that read further than the feed delivers those frames at once.
    const history = await engine.history(CHANNEL, { epoch: feed.epoch, since: 1 });
    if (!history.recovered) throw new Error('history expected');
    expect(offsetsOf(history.messages)).toEqual([2, 3]);
    feed.advance(history.epoch, history.messages.slice(0, 1));
    expect(delivered).toEqual([1, 2]);
    release();
    release(); // a second call changes nothing
    expect(delivered).toEqual([1, 2, 3]);
    await publish(4);
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4]);
  });

  it('keeps frames held while a fill runs, and delivers the filled hole only on release', async () => {
    const feed = makeFeed();
    await feed.start();
    const release = feed.hold();
    dropped = new Set([1]);
    await publish(1, 2);
    feed.catchUp('restored');
    await settle();
    expect(delivered).toEqual([]);
    release();
    expect(delivered).toEqual([1, 2]);
  });

  it('ignores an advance from another epoch or one that would leave a hole', async () => {
    const feed = makeFeed();
    await feed.start();
    await publish(1, 2, 3);
    await settle();
    const { epoch } = feed.position();
    feed.advance('another-epoch', [{ epoch: 'another-epoch', offset: 4, frame: frame(4) }]);
    feed.advance(epoch, [{ epoch, offset: 6, frame: frame(6) }]);
    expect(delivered).toEqual([1, 2, 3]);
    expect(feed.lastOffset).toBe(3);
  });
});
