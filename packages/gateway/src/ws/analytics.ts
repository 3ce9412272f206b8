import type { HistoryRequest } from '@switchboard/engine';
import type { WebSocket } from 'uWebSockets.js';
import {
  ANALYTICS_TOPICS,
  CHANNELS,
  analyticsClientMessageSchema,
  pongFrame,
  readFrameHead,
  statsFrame,
  errorFrame,
  validate,
} from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { StatsCache } from '../stats-cache.js';
import { fanoutMeter, leadingEventId } from './fanout.js';
import { rejectMessage, sendFrame } from './inbound.js';
import { EndpointFeed } from './endpoint-feed.js';
import { rawPresenceMessage } from '../presence/raw-clients.js';
import { registerRawEndpoint, resumeFromUpgrade, type RawSocket } from './raw-endpoint.js';

const ENDPOINT = 'analytics';
export const ANALYTICS_PATH = '/ws/analytics';

interface AnalyticsSocket extends RawSocket {
  /** Event types this client asked for; undefined = all. */
  filter: string[] | undefined;
  /** Where the client asked to resume from (`?epoch=&since=`). */
  resume: HistoryRequest | undefined;
}

/** Whether a frame of this type reaches a client with this filter (heartbeats always do). */
const passes = (filter: string[], type: string | undefined): boolean => type === 'heartbeat' || (type !== undefined && filter.includes(type));

/** Topics a client with this filter listens on (every frame reaches it through exactly one). */
const topicsFor = (filter: string[] | undefined): string[] =>
  filter === undefined ? [ANALYTICS_TOPICS.all] : [ANALYTICS_TOPICS.heartbeat, ...filter.map(ANALYTICS_TOPICS.eventType)];

/**
 * `/ws/analytics` (docs/protocol-analytics.md): initial stats on open, heartbeats and events from the
 * analytics channel, `refresh_stats`, `ping`, and a per-client `subscribe` event filter.
 */
export async function registerAnalyticsEndpoint(ctx: GatewayContext): Promise<void> {
  const { engine, logger } = ctx;
  const stats = new StatsCache(engine);

  const statsOrError = async (): Promise<string> => {
    try {
      return statsFrame('initial_stats', await stats.get());
    } catch (err) {
      logger.warn({ err }, 'statistics unavailable');
      return errorFrame('statistics are temporarily unavailable');
    }
  };

  /** Clients of this node with a type filter: while there are none, no frame needs its type's topic. */
  let filtered = 0;
  const setFilter = (ws: WebSocket<AnalyticsSocket>, events: string[]) => {
    const data = ws.getUserData();
    const filter = events.length === 0 || events.includes('*') ? undefined : [...new Set(events)];
    for (const topic of topicsFor(data.filter)) ws.unsubscribe(topic);
    filtered += (filter === undefined ? 0 : 1) - (data.filter === undefined ? 0 : 1);
    data.filter = filter;
    for (const topic of topicsFor(filter)) ws.subscribe(topic);
    sendFrame(ws, JSON.stringify({ type: 'subscribed', events: filter ?? ['*'] }), ctx);
  };

  // Fan-out: one frame from Redis → one publish per topic; uWS frames it once per topic, not
  // once per client (compression, though, would be per client: see FANOUT_COMPRESS_MIN_BYTES).
  const fanout = fanoutMeter(ctx, ENDPOINT);
  const feed = new EndpointFeed(ctx, CHANNELS.analytics, ENDPOINT, ({ frame }) => {
    fanout.frame();
    // Every frame on the channel follows a change of the statistics (the worker commits both
    // together): cached figures would now be older than what clients have seen.
    stats.invalidate();
    // The type is read (a scan of the whole frame) only while some client here filters by it,
    // usually never: a frame as the worker builds it goes to the others as it is.
    const plain = filtered === 0 && frame.startsWith('{"type":"');
    const head = plain ? undefined : readFrameHead(frame);
    if (!plain && head === undefined) {
      logger.warn({ frame: frame.slice(0, 200) }, 'unroutable frame on the analytics channel');
      return;
    }
    fanout.publish(ANALYTICS_TOPICS.all, frame);
    if (head !== undefined && filtered > 0) {
      const specific = head.type === 'heartbeat' ? ANALYTICS_TOPICS.heartbeat : ANALYTICS_TOPICS.eventType(head.type);
      if (ctx.app.numSubscribers(specific) > 0) fanout.publish(specific, frame);
    }
    fanout.delivered(leadingEventId(frame));
  });

  registerRawEndpoint<AnalyticsSocket>(ctx, {
    endpoint: ENDPOINT,
    path: ANALYTICS_PATH,
    admit: (req) => {
      const resume = resumeFromUpgrade(req);
      return 'status' in resume ? resume : { filter: undefined, resume: resume.request };
    },
    // `initial_stats` (with the client's position) is always the first frame.
    start: (ws) =>
      feed.attach(ws, {
        resume: ws.getUserData().resume,
        first: statsOrError,
        replay: (socket, messages) => {
          const { filter } = socket.getUserData();
          return messages.filter((m) => filter === undefined || passes(filter, readFrameHead(m.frame)?.type)).map((m) => m.frame);
        },
        join: (socket) => {
          for (const topic of topicsFor(socket.getUserData().filter)) socket.subscribe(topic);
        },
      }),
    handle: async (ws, json) => {
      const presence = rawPresenceMessage(ctx, ws, json, 'analytics');
      if (presence !== undefined) return presence;
      const parsed = validate(analyticsClientMessageSchema, json);
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
      switch (parsed.value.type) {
        case 'ping':
          return sendFrame(ws, pongFrame(), ctx);
        case 'refresh_stats':
          return sendFrame(ws, await statsOrError(), ctx);
        case 'subscribe':
          return setFilter(ws, parsed.value.events);
      }
    },
    closed: (ws) => {
      if (ws.getUserData().filter !== undefined) filtered -= 1;
      feed.detach(ws);
    },
  });

  await feed.start();
}
