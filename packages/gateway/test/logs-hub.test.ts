import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import uWS, { type WebSocket } from 'uWebSockets.js';
import { MemoryEngine } from '@switchboard/engine';
import { LOGS_TOPICS, clearedFrame, logsChannel, logsFrame, type LogFilter } from '@switchboard/protocol';
import type { GatewayContext } from '../src/context.js';
import { SubscriptionMonitor } from '../src/feed/subscription-monitor.js';
import { createGatewayMetrics } from '../src/metrics.js';
import { LOG_BATCH_DELAY_MS, LOG_BATCH_MAX_BYTES, LogsHub, type AppFeed, type LogsSocket } from '../src/ws/logs/hub.js';

/**
 * LogsHub batching on the in-memory engine with fake timers: live entries of one app are sent
 * as one frame per 25 ms window (sooner at 64 KiB), encoded once for the app's uWS topic and
 * once per distinct filter, and a joining client never gets a batch holding frames its position
 * already covers. The uWS app is real (port 0); its `publish` is observed.
 */
const APP = 'shop';
const TOPIC = LOGS_TOPICS.app(APP);

/** A stand-in for a uWS socket: its topics, what it was sent directly, and in which order. */
class FakeSocket {
  readonly sent: string[] = [];
  readonly topics = new Set<string>();
  readonly data: LogsSocket;
  constructor(
    id: number,
    filter: LogFilter | undefined,
    private readonly events: string[],
  ) {
    this.data = { id, endpoint: 'logs', address: '127.0.0.1', claims: undefined, closed: false, turn: Promise.resolve(), auth: undefined, filter, idleTimer: undefined, authTimer: undefined };
  }
  getUserData = (): LogsSocket => this.data;
  cork = (fn: () => void): void => fn();
  send = (frame: string): number => {
    this.sent.push(frame);
    this.events.push(`send ${this.data.id}`);
    return 1;
  };
  subscribe = (topic: string): boolean => {
    this.topics.add(topic);
    this.events.push(`subscribe ${this.data.id} ${topic}`);
    return true;
  };
  unsubscribe = (topic: string): boolean => this.topics.delete(topic);
  get ws(): WebSocket<LogsSocket> {
    return this as unknown as WebSocket<LogsSocket>;
  }
}

interface Harness {
  engine: MemoryEngine;
  hub: LogsHub;
  /** Frames published to the app's topic, in order. */
  published: string[];
  /** Publishes, joins and direct sends, in the order they happened. */
  events: string[];
  /** Commits one `logs` frame per call with the given entries (as the worker does). */
  log(...entries: { level: string; message: string }[]): Promise<void>;
  /** A client of the app, joined and admitted (live delivery started). */
  client(id: number, filter?: LogFilter): Promise<{ socket: FakeSocket; feed: AppFeed }>;
}

let engine: MemoryEngine | undefined;
let listening: uWS.us_listen_socket | undefined;
let timestamp = 1_700_000_000_000;

beforeEach(() => {
  // Only the timers the hub uses: the memory engine's deliveries (microtasks) stay real.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
});

afterEach(async () => {
  vi.useRealTimers();
  await engine?.close();
  engine = undefined;
  if (listening !== undefined) uWS.us_listen_socket_close(listening);
  listening = undefined;
});

async function harness(): Promise<Harness> {
  engine = new MemoryEngine({ history: { size: 100, ttlS: 300 } });
  await engine.connect();
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const logger = pino({ level: 'silent' });
  // uWS publishes only on an app with a WebSocket route and a running loop: listen on port 0.
  const app = uWS.App().ws('/ws/logs', {});
  listening = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen failed')))),
  );
  const published: string[] = [];
  const events: string[] = [];
  const publish = app.publish.bind(app);
  vi.spyOn(app, 'publish').mockImplementation((topic, message, isBinary, compress) => {
    if (topic === TOPIC) {
      published.push(String(message));
      events.push('publish');
    }
    return publish(topic, message, isBinary, compress);
  });
  const ctx = {
    app,
    engine,
    metrics,
    logger,
    config: { historySize: 100 },
    subscription: new SubscriptionMonitor(engine, metrics, logger),
  } as unknown as GatewayContext;
  const hub = new LogsHub(ctx);
  const e = engine;
  return {
    engine: e,
    hub,
    published,
    events,
    async log(...entries) {
      const lines = entries.map((entry) => JSON.stringify({ id: crypto.randomUUID(), timestamp: timestamp++, ...entry }));
      await e.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: logsChannel(APP), frame: logsFrame(lines) } });
      await flushMicrotasks();
    },
    async client(id, filter) {
      const socket = new FakeSocket(id, filter, events);
      const feed = await hub.join(socket.ws, APP);
      if (feed === undefined) throw new Error('join failed');
      hub.admit(socket.ws, feed);
      return { socket, feed };
    },
  };
}

/** Lets the engine's pub/sub deliveries (microtasks) run without moving the fake clock. */
const flushMicrotasks = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

const parse = (frame: string) => JSON.parse(frame) as { type: string; payload: { message: string; level: string }[]; fromOffset: number; offset: number };
const messagesOf = (frame: string) => parse(frame).payload.map((e) => e.message);

describe('LogsHub batching', () => {
  it('sends the entries of one 25 ms window as one frame on the app topic, with the offsets it covers', async () => {
    const h = await harness();
    await h.client(1);
    await h.log({ level: 'info', message: 'a' });
    await vi.advanceTimersByTimeAsync(10);
    await h.log({ level: 'info', message: 'b' }, { level: 'warn', message: 'c' });
    await vi.advanceTimersByTimeAsync(LOG_BATCH_DELAY_MS - 11);
    expect(h.published).toEqual([]); // the window is still open
    await vi.advanceTimersByTimeAsync(1);
    expect(h.published).toHaveLength(1);
    expect(parse(h.published[0]!)).toMatchObject({ type: 'logs', fromOffset: 1, offset: 2 });
    expect(messagesOf(h.published[0]!)).toEqual(['a', 'b', 'c']);
    // Nothing more without new entries, well past every timer.
    await vi.advanceTimersByTimeAsync(10 * LOG_BATCH_DELAY_MS);
    expect(h.published).toHaveLength(1);
    // The next window starts with the next entry.
    await h.log({ level: 'info', message: 'd' });
    await vi.advanceTimersByTimeAsync(LOG_BATCH_DELAY_MS);
    expect(h.published).toHaveLength(2);
    expect(parse(h.published[1]!)).toMatchObject({ fromOffset: 3, offset: 3 });
  });

  it('sends a batch at once when it reaches 64 KiB, without waiting for the window', async () => {
    const h = await harness();
    await h.client(1);
    const big = 'x'.repeat(LOG_BATCH_MAX_BYTES / 2);
    await h.log({ level: 'info', message: big });
    expect(h.published).toEqual([]);
    await h.log({ level: 'info', message: big });
    expect(h.published).toHaveLength(1);
    expect(parse(h.published[0]!)).toMatchObject({ fromOffset: 1, offset: 2 });
    // The window timer of the flushed batch sends nothing more.
    await vi.advanceTimersByTimeAsync(10 * LOG_BATCH_DELAY_MS);
    expect(h.published).toHaveLength(1);
  });

  it('encodes a batch once per distinct filter for filtered clients, and sends nothing to a filter that keeps no entry', async () => {
    const h = await harness();
    await h.client(1);
    const errorsA = await h.client(2, { level: ['error'] });
    const errorsB = await h.client(3, { level: ['error'] });
    const debug = await h.client(4, { level: ['debug'] });
    expect(errorsA.socket.topics.has(TOPIC)).toBe(false); // filtered clients are served one by one
    const stringify = vi.spyOn(JSON, 'stringify');
    await h.log({ level: 'info', message: 'i' }, { level: 'error', message: 'e' });
    await vi.advanceTimersByTimeAsync(LOG_BATCH_DELAY_MS);
    // One encoding for the error filter (its key aside), shared by both of its clients.
    const encodedEntries = stringify.mock.calls.filter(([value]) => Array.isArray(value));
    expect(encodedEntries).toHaveLength(1);
    stringify.mockRestore();
    expect(h.published).toHaveLength(1);
    expect(messagesOf(h.published[0]!)).toEqual(['i', 'e']);
    expect(errorsA.socket.sent).toHaveLength(1);
    expect(errorsB.socket.sent).toEqual(errorsA.socket.sent);
    expect(messagesOf(errorsA.socket.sent[0]!)).toEqual(['e']);
    expect(parse(errorsA.socket.sent[0]!)).toMatchObject({ fromOffset: 1, offset: 1 });
    expect(debug.socket.sent).toEqual([]);
  });

  it('flushes the gathered batch to the others before a new client joins the topic', async () => {
    const h = await harness();
    await h.client(1);
    await h.log({ level: 'info', message: 'before' });
    expect(h.published).toEqual([]);
    const { feed } = await h.client(2);
    // Sent before client 2 subscribed: its position (the feed's last offset) already covers it.
    expect(h.events.slice(-3)).toEqual(['publish', `subscribe 2 ${TOPIC}`, `subscribe 2 ${LOGS_TOPICS.metrics}`]);
    expect(feed.channel.lastOffset).toBe(1);
    await vi.advanceTimersByTimeAsync(10 * LOG_BATCH_DELAY_MS);
    expect(h.published).toHaveLength(1);
  });

  it('sends entries gathered before a clear ahead of it, and the clear in its place', async () => {
    const h = await harness();
    await h.client(1);
    await h.log({ level: 'info', message: 'old' });
    await h.engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: logsChannel(APP), frame: clearedFrame(APP) } });
    await flushMicrotasks();
    expect(h.published.map((f) => parse(f).type)).toEqual(['logs', 'cleared']);
    expect(parse(h.published[1]!)).toMatchObject({ payload: { appId: APP }, offset: 2 });
  });

  it('ignores a frame on the app channel that is neither logs nor cleared', async () => {
    const h = await harness();
    await h.client(1);
    await h.engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: logsChannel(APP), frame: '{"type":"forged","payload":[]}' } });
    await flushMicrotasks();
    await vi.advanceTimersByTimeAsync(10 * LOG_BATCH_DELAY_MS);
    expect(h.published).toEqual([]);
  });

  it('drops the pending batch and its timer when the last client leaves', async () => {
    const h = await harness();
    const timersBefore = vi.getTimerCount(); // the engine's own sweeper
    const { socket } = await h.client(1);
    await h.log({ level: 'info', message: 'unsent' });
    expect(vi.getTimerCount()).toBe(timersBefore + 1); // the batch window
    h.hub.leave(socket.ws, APP);
    expect(vi.getTimerCount()).toBe(timersBefore);
    await vi.advanceTimersByTimeAsync(10 * LOG_BATCH_DELAY_MS);
    expect(h.published).toEqual([]);
  });
});
