import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { WebSocket } from 'uWebSockets.js';
import { MemoryEngine, type ChannelMessage } from '@switchboard/engine';
import type { GatewayContext } from '../src/context.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { CLOSE_CHANNEL_RESET, EndpointFeed } from '../src/ws/endpoint-feed.js';
import type { RawSocket } from '../src/ws/raw-endpoint.js';
import { parseResume } from '../src/ws/resume.js';
import { SubscriptionMonitor } from '../src/feed/subscription-monitor.js';

/**
 * `acrossEpochs`: a resume from an older epoch gets every frame of the channel's new epoch, from
 * offset 1, when the history still holds it (recovered:true, epochChanged:true); otherwise
 * recovered:false as without it. In-process, on the memory engine; the test plays pub/sub.
 */
const CHANNEL = 'sb:ch:epochs-test';

class FakeSocket {
  readonly sent: string[] = [];
  readonly data: RawSocket = { id: 1, endpoint: 'test', address: '127.0.0.1', claims: undefined, closed: false, turn: Promise.resolve() };
  getUserData = (): RawSocket => this.data;
  cork = (fn: () => void): void => fn();
  send = (frame: string): number => {
    this.sent.push(frame);
    return 1;
  };
  closedWith: number | undefined;
  end = (code?: number): void => {
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

const engines: MemoryEngine[] = [];
afterEach(async () => {
  for (const engine of engines.splice(0)) await engine.close();
});
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

/** A feed at the start of a fresh epoch, after `before` frames of an older one it forwarded. */
async function afterEpochChange(historySize: number) {
  const engine = new MemoryEngine({ history: { size: historySize, ttlS: 300 } });
  engines.push(engine);
  await engine.connect();
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const logger = pino({ level: 'silent' });
  const ctx = { engine, config: { historySize }, metrics, logger, subscription: new SubscriptionMonitor(engine, metrics, logger) } as unknown as GatewayContext;
  const feed = new EndpointFeed(ctx, CHANNEL, 'test', () => undefined);
  await feed.start();
  await engine.unsubscribe(CHANNEL, feed.onMessage);
  const carried: ChannelMessage[] = [];
  await engine.subscribe(CHANNEL, (m) => carried.push(m));
  let n = 0;
  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) await engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: CHANNEL, frame: `{"type":"e","n":${n++}}` } });
    await settle();
    for (const m of carried.splice(0)) feed.onMessage(m);
    // A frame of another epoch makes the feed read the channel's position first: wait until it
    // stands where the channel does.
    const at = await engine.position(CHANNEL);
    for (let tries = 0; feed.epoch !== at.epoch || feed.lastOffset !== at.offset; tries++) {
      if (tries > 500) throw new Error(`the feed did not reach ${at.epoch}:${at.offset}`);
      await settle();
    }
  };
  await publish(3);
  const old = feed.epoch;
  // Redis lost its data: the channel starts over under a new epoch.
  const lose = () => (engine as unknown as { channels: Map<string, unknown> }).channels.delete(CHANNEL);
  lose();
  return { feed, old, publish, registry, lose };
}

const resumeOf = (epoch: string, acrossEpochs: boolean) => {
  const parsed = parseResume(epoch, '3', acrossEpochs ? '1' : undefined);
  if (!parsed.ok || parsed.resume === undefined) throw new Error('resume not parsed');
  return parsed.resume;
};

async function connect(feed: EndpointFeed, request: ReturnType<typeof resumeOf>): Promise<FakeSocket> {
  const ws = new FakeSocket();
  await feed.attach(ws.ws, { resume: request, first: () => '{"type":"hello"}', replay: (_ws, messages) => messages.map((m) => m.frame), join: () => undefined });
  return ws;
}

async function resume(feed: EndpointFeed, request: ReturnType<typeof resumeOf>): Promise<Record<string, unknown>[]> {
  return (await connect(feed, request)).parsed();
}

describe('EndpointFeed.attach across an epoch change (acrossEpochs)', () => {
  it('replays the new epoch from offset 1 to a client of the old one that asked for it', async () => {
    const { feed, old, publish } = await afterEpochChange(100);
    await publish(2);
    expect(feed.epoch).not.toBe(old);
    expect(await resume(feed, resumeOf(old, true))).toEqual([
      { type: 'hello', epoch: feed.epoch, offset: 2 },
      { type: 'resumed', recovered: true, epoch: feed.epoch, count: 2, offset: 2, epochChanged: true },
      { type: 'e', n: 3, offset: 1 },
      { type: 'e', n: 4, offset: 2 },
    ]);
    // Without acrossEpochs: recovered:false, as before.
    expect((await resume(feed, resumeOf(old, false)))[1]).toEqual({ type: 'resumed', recovered: false, epoch: feed.epoch, offset: 2 });
  });

  it('answers recovered:false when the new epoch\'s history no longer holds offset 1', async () => {
    const { feed, old, publish, registry } = await afterEpochChange(3);
    await publish(5);
    expect((await resume(feed, resumeOf(old, true)))[1]).toEqual({ type: 'resumed', recovered: false, epoch: feed.epoch, offset: 5 });
    const found = (await registry.getMetricsAsJSON()).find((m) => m.name === 'switchboard_resume_not_recovered_total');
    expect(found?.values.find((v) => v.labels['reason'] === 'epoch_changed')?.value).toBe(1);
  });

  it('lets the feed follow a new epoch it has not noticed yet before answering: the client is told once, in the new epoch', async () => {
    // Redis lost the channel and nothing was published since: only the resume's read sees it.
    const { feed, old, lose } = await afterEpochChange(100);
    for (const acrossEpochs of [false, true]) {
      const before = feed.epoch;
      const ws = await connect(feed, resumeOf(old, acrossEpochs));
      // Not answered in the node's old epoch: closed by the epoch change (1012), to reconnect.
      expect(ws.parsed()).toEqual([]);
      expect(ws.closedWith).toBe(CLOSE_CHANNEL_RESET);
      expect(feed.epoch).not.toBe(before);
      // The reconnect is answered in the new epoch, without another close.
      const again = await connect(feed, resumeOf(old, acrossEpochs));
      expect(again.closedWith).toBeUndefined();
      expect(again.parsed()).toEqual([
        { type: 'hello', epoch: feed.epoch, offset: 0 },
        acrossEpochs
          ? { type: 'resumed', recovered: true, epoch: feed.epoch, count: 0, offset: 0, epochChanged: true }
          : { type: 'resumed', recovered: false, epoch: feed.epoch, offset: 0 },
      ]);
      lose(); // and again, for the next round
    }
  });

  it('parses acrossEpochs from a query string (1 or true) and from JSON (true)', () => {
    expect(parseResume('abc', '4', '1')).toEqual({ ok: true, resume: { epoch: 'abc', since: 4, acrossEpochs: true } });
    expect(parseResume('abc', 4, true)).toEqual({ ok: true, resume: { epoch: 'abc', since: 4, acrossEpochs: true } });
    expect(parseResume('abc', '4', '0')).toEqual({ ok: true, resume: { epoch: 'abc', since: 4 } });
    expect(parseResume('abc', '4', '')).toEqual({ ok: true, resume: { epoch: 'abc', since: 4 } });
  });
});
