import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import { MemoryEngine, type ChannelHandler, type ChannelMessage } from '@switchboard/engine';
import { ChannelFeed } from '../src/socketio/feed.js';

/**
 * The ordered channel feed behind the Socket.IO adapter, on the real in-memory engine. Frames
 * are "lost in transit" by a filter between the engine and the feed's subscription.
 */
const CHANNEL = 'sb:ch:test-feed';
const logger = pino({ level: 'silent' });
const frame = (n: number) => JSON.stringify({ n });
const settle = () => new Promise((resolve) => setImmediate(resolve));

let engine: MemoryEngine;
let dropped: Set<number>;
let delivered: number[];
let filled: number[];
let feed: ChannelFeed;

const publish = (...ns: number[]) => engine.commit({ guard: { kind: 'none' }, ops: [], publish: ns.map((n) => ({ channel: CHANNEL, frame: frame(n) })) });
const offsetsOf = (messages: ChannelMessage[]) => messages.map((m) => m.offset);

beforeEach(async () => {
  engine = new MemoryEngine({ history: { size: 5, ttlS: 60 } });
  await engine.connect();
  dropped = new Set();
  delivered = [];
  filled = [];
  // Frames whose `n` is in `dropped` never reach the feed live.
  const subscribe = engine.subscribe.bind(engine);
  engine.subscribe = (channel: string, handler: ChannelHandler) =>
    subscribe(channel, (m) => {
      if (!dropped.has((JSON.parse(m.frame) as { n: number }).n)) handler(m);
    });
  feed = new ChannelFeed(engine, CHANNEL, (m) => delivered.push(m.offset), { gapFilled: (n) => filled.push(n) }, logger);
});

afterEach(async () => {
  await feed.stop();
  await engine.close();
});

describe('ChannelFeed', () => {
  it('starts at the channel position: earlier frames had nobody to go to', async () => {
    await publish(1, 2);
    await feed.start();
    expect(feed.position().offset).toBe(2);
    await publish(3, 4);
    await settle();
    expect(delivered).toEqual([3, 4]);
    expect(feed.position()).toEqual({ epoch: expect.any(String), offset: 4 });
  });

  it('fills a hole from the history before delivering the frame after it, each offset once', async () => {
    await feed.start();
    dropped = new Set([2, 3]);
    await publish(1, 2, 3, 4, 5);
    await settle();
    await settle();
    expect(delivered).toEqual([1, 2, 3, 4, 5]);
    expect(filled.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
  });

  it('skips frames the history no longer holds, and goes on', async () => {
    await feed.start();
    dropped = new Set([1, 2, 3, 4, 5, 6, 7]);
    await publish(1, 2, 3, 4, 5, 6, 7); // history keeps 5 frames: 1 and 2 are gone
    dropped = new Set();
    await publish(8);
    await settle();
    await settle();
    expect(delivered).toEqual([8]);
    await publish(9);
    await settle();
    expect(delivered).toEqual([8, 9]);
  });

  it('catches up on frames lost at the tail when told the subscription came back', async () => {
    await feed.start();
    dropped = new Set([1, 2]);
    await publish(1, 2);
    await settle();
    expect(delivered).toEqual([]);
    feed.catchUp();
    await settle();
    await settle();
    expect(delivered).toEqual([1, 2]);
  });

  it('holds live frames while a recovery runs, and delivers them after it, once', async () => {
    await feed.start();
    await publish(1);
    await settle();
    let during: number[] = [];
    await feed.holding(async () => {
      await publish(2, 3);
      await settle();
      during = [...delivered];
      // A recovery that read further than the feed delivers those frames at once.
      const history = await engine.history(CHANNEL, { epoch: feed.position().epoch, since: 1 });
      if (!history.recovered) throw new Error('history expected');
      expect(offsetsOf(history.messages)).toEqual([2, 3]);
      feed.advance(history.epoch, history.messages.slice(0, 1));
    });
    expect(during).toEqual([1]);
    expect(delivered).toEqual([1, 2]);
    await settle();
    expect(delivered).toEqual([1, 2, 3]);
  });

  it('ignores an advance from another epoch or one that would leave a hole', async () => {
    await feed.start();
    await publish(1, 2, 3);
    await settle();
    const { epoch } = feed.position();
    feed.advance('another-epoch', [{ epoch: 'another-epoch', offset: 4, frame: frame(4) }]);
    feed.advance(epoch, [{ epoch, offset: 6, frame: frame(6) }]);
    expect(delivered).toEqual([1, 2, 3]);
    expect(feed.position().offset).toBe(3);
  });
});
