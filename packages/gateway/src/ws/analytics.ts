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
import { admitUpgrade } from './admission.js';
import type { SocketData } from './connections.js';
import { observeDelivery, publishToTopic, rawEndpointSettings } from './fanout.js';
import { createInboundDecoder, rejectMessage, sendFrame } from './inbound.js';

const ENDPOINT = 'analytics';
export const ANALYTICS_PATH = '/ws/analytics';

interface AnalyticsSocket extends SocketData {
  /** Event types this client asked for; undefined = all. */
  filter: string[] | undefined;
}

/** Topics a client with this filter listens on (every frame reaches it through exactly one). */
const topicsFor = (filter: string[] | undefined): string[] =>
  filter === undefined ? [ANALYTICS_TOPICS.all] : [ANALYTICS_TOPICS.heartbeat, ...filter.map(ANALYTICS_TOPICS.eventType)];

/**
 * `/ws/analytics` (DESIGN section 1.1): initial stats on open, heartbeats and events from the
 * analytics channel, `refresh_stats`, `ping`, and a per-client `subscribe` event filter.
 */
export async function registerAnalyticsEndpoint(ctx: GatewayContext): Promise<void> {
  const { app, config, engine, metrics, connections, logger } = ctx;
  const stats = new StatsCache(engine);
  const decode = createInboundDecoder(ctx, ENDPOINT);
  metrics.connections.set({ endpoint: ENDPOINT }, 0); // expose the series before the first client

  const sendStats = async (ws: WebSocket<AnalyticsSocket>) => {
    try {
      sendFrame(ws, statsFrame('initial_stats', await stats.get()), ctx);
    } catch (err) {
      logger.warn({ err }, 'statistics unavailable');
      sendFrame(ws, errorFrame('statistics are temporarily unavailable'), ctx);
    }
  };

  const setFilter = (ws: WebSocket<AnalyticsSocket>, events: string[]) => {
    const data = ws.getUserData();
    const filter = events.length === 0 || events.includes('*') ? undefined : [...new Set(events)];
    for (const topic of topicsFor(data.filter)) ws.unsubscribe(topic);
    data.filter = filter;
    for (const topic of topicsFor(filter)) ws.subscribe(topic);
    sendFrame(ws, JSON.stringify({ type: 'subscribed', events: filter ?? ['*'] }), ctx);
  };

  app.ws<AnalyticsSocket>(ANALYTICS_PATH, {
    ...rawEndpointSettings(config),

    upgrade: (res, req, context) => admitUpgrade<AnalyticsSocket>(ctx, ENDPOINT, res, req, context, { filter: undefined }),

    open: (ws) => {
      connections.add(ws);
      // Stats first, then the subscription: `initial_stats` is always the first frame.
      void sendStats(ws).then(() => {
        const data = ws.getUserData();
        if (!data.closed && data.filter === undefined && ws.getTopics().length === 0) ws.subscribe(ANALYTICS_TOPICS.all);
      });
    },

    message: async (ws, message, isBinary) => {
      const json = await decode(ws, message, isBinary);
      if (json === undefined || ws.getUserData().closed) return;
      const parsed = validate(analyticsClientMessageSchema, json);
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
      switch (parsed.value.type) {
        case 'ping':
          return sendFrame(ws, pongFrame(), ctx);
        case 'refresh_stats':
          return sendStats(ws);
        case 'subscribe':
          return setFilter(ws, parsed.value.events);
      }
    },

    close: (ws, code) => connections.remove(ws, code),
  });

  // Fan-out: one frame from Redis → one publish per topic; uWS frames it once per topic, not
  // once per client (compression, though, would be per client: see FANOUT_COMPRESS_MIN_BYTES).
  await engine.subscribe(CHANNELS.analytics, ({ frame }) => {
    metrics.channelMessages.inc({ channel: ENDPOINT });
    // Every frame on the channel follows a change of the statistics (the worker commits both
    // together): cached figures would now be older than what clients have seen.
    stats.invalidate();
    const head = readFrameHead(frame);
    if (head === undefined) {
      logger.warn({ frame: frame.slice(0, 200) }, 'unroutable frame on the analytics channel');
      return;
    }
    const specific = head.type === 'heartbeat' ? ANALYTICS_TOPICS.heartbeat : ANALYTICS_TOPICS.eventType(head.type);
    publishToTopic(ctx, ENDPOINT, ANALYTICS_TOPICS.all, frame);
    publishToTopic(ctx, ENDPOINT, specific, frame);
    observeDelivery(ctx, ENDPOINT, head.id);
  });
}
