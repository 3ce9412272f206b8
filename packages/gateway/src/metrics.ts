import { Counter, Gauge, type LabelValues, type Registry } from 'prom-client';
import { HotHistogram } from './hot-histogram.js';

/** Counts not yet added to their prom-client counter, per counter: see `tally`. */
const pendingTallies = new WeakMap<object, { labels: LabelValues<string>; count: number }[]>();

/** A counter's `collect`: adds what its tallies counted since the last scrape. */
function flushTallies(this: Counter<string>): void {
  for (const tally of pendingTallies.get(this) ?? []) {
    if (tally.count === 0) continue;
    this.inc(tally.labels, tally.count);
    tally.count = 0;
  }
}

/**
 * One label set of a counter created with `collect: flushTallies`, for hot paths: counting is
 * one increment of a plain number, added to the counter when the registry reads it (prom-client
 * validates and hashes the labels on every `inc`).
 */
export function tally<L extends string>(counter: Counter<L>, labels: LabelValues<L>): (by?: number) => void {
  const entry = { labels: labels as LabelValues<string>, count: 0 };
  const tallies = pendingTallies.get(counter) ?? [];
  pendingTallies.set(counter, tallies);
  tallies.push(entry);
  return (by = 1) => {
    entry.count += by;
  };
}

/** One endpoint's per-frame fan-out counts, bound to their label sets once (see ws/fanout.ts). */
export interface FanoutCounts {
  /** A frame received from the engine for fan-out (by channel). */
  frame: () => void;
  /** Recipients of a published frame (by endpoint). */
  sent: (recipients: number) => void;
  /** Ingest → hand-off latency of a frame, in seconds (by channel). */
  delivery: (seconds: number) => void;
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

export function createGatewayMetrics(registry: Registry) {
  const metrics = createMetrics(registry);
  const fanout = new Map<string, FanoutCounts>();
  return {
    ...metrics,
    /** The fan-out counts of `endpoint` labelled `channel`, made once per pair (a logs app's hub comes and goes). */
    fanoutCounts(endpoint: string, channel: string): FanoutCounts {
      const key = `${endpoint}\u0000${channel}`;
      let counts = fanout.get(key);
      if (counts === undefined) {
        counts = {
          frame: tally(metrics.channelMessages, { channel }),
          sent: tally(metrics.sent, { endpoint }),
          delivery: metrics.deliverySeconds.bind({ channel }),
        };
        fanout.set(key, counts);
      }
      return counts;
    },
  };
}

function createMetrics(registry: Registry) {
  return {
    maxConnections: new Gauge({
      name: 'switchboard_max_connections',
      help: 'The configured MAX_CONNECTIONS of this node (WebSocket connections it accepts).',
      registers: [registry],
    }),
    subscriptionUp: new Gauge({
      name: 'switchboard_gateway_subscription_up',
      help: 'Whether the last round trip through this node\'s pub/sub subscription succeeded (1) or not (0).',
      registers: [registry],
    }),
    gapFills: new Counter({
      name: 'switchboard_gateway_gap_fills_total',
      help: 'Times this node read a channel\'s history to fill a hole in its subscription, by reason (gap, epoch, restored, probe).',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    refilledFrames: new Counter({
      name: 'switchboard_gateway_refilled_frames_total',
      help: 'Frames this node took from channel history (not from pub/sub) to fill holes in its subscription.',
      registers: [registry],
    }),
    unfilledHoles: new Counter({
      name: 'switchboard_gateway_unfilled_holes_total',
      help: 'Holes in a channel that history could not fill, by cause: epoch_changed (Redis lost its data: the channel\'s clients are closed with 1012 and resume with recovered:false) or history_too_short (older than HISTORY_SIZE/HISTORY_TTL_S: the frames are skipped and clients see the jump in offsets).',
      labelNames: ['cause'] as const,
      registers: [registry],
    }),
    resumes: new Counter({
      name: 'switchboard_resumes_total',
      help: 'Resume requests on raw endpoints, by endpoint and outcome (recovered, not_recovered).',
      labelNames: ['endpoint', 'outcome'] as const,
      registers: [registry],
    }),
    resumesNotRecovered: new Counter({
      name: 'switchboard_resume_not_recovered_total',
      help: 'Raw resumes answered recovered:false, by endpoint and reason (epoch_changed, ahead_of_channel, history_too_short, node_epoch, history_gap; docs/delivery.md).',
      labelNames: ['endpoint', 'reason'] as const,
      registers: [registry],
    }),
    replayedFrames: new Counter({
      name: 'switchboard_replayed_frames_total',
      help: 'Frames sent from channel history to resuming clients, by endpoint.',
      labelNames: ['endpoint'] as const,
      registers: [registry],
    }),
    /** Name kept from the original analytics server, so existing dashboards keep working. */
    connections: new Gauge({
      name: 'maicivy_websocket_connections',
      help: 'Open WebSocket connections on this node, by endpoint.',
      labelNames: ['endpoint'] as const,
      registers: [registry],
    }),
    received: new Counter({
      name: 'switchboard_ws_messages_received_total',
      help: 'WebSocket messages received from clients, by endpoint.',
      labelNames: ['endpoint'] as const,
      registers: [registry],
    }),
    sent: new Counter({
      name: 'switchboard_ws_messages_sent_total',
      help: 'WebSocket messages sent to clients (a broadcast counts once per recipient), by endpoint.',
      labelNames: ['endpoint'] as const,
      registers: [registry],
      collect: flushTallies,
    }),
    clientErrors: new Counter({
      name: 'switchboard_ws_client_errors_total',
      help: 'Client messages answered with an error, by endpoint and reason.',
      labelNames: ['endpoint', 'reason'] as const,
      registers: [registry],
    }),
    disconnects: new Counter({
      name: 'switchboard_ws_disconnects_total',
      help: 'WebSocket connections closed, by endpoint and close code.',
      labelNames: ['endpoint', 'code'] as const,
      registers: [registry],
    }),
    upgradesRefused: new Counter({
      name: 'switchboard_ws_upgrades_refused_total',
      help: 'WebSocket upgrades refused, by endpoint and reason.',
      labelNames: ['endpoint', 'reason'] as const,
      registers: [registry],
    }),
    ingest: new Counter({
      name: 'switchboard_ingest_requests_total',
      help: 'HTTP ingest requests, by product kind and outcome (accepted, replayed (a repeated Idempotency-Key: nothing stored), invalid, unauthorized, too_large, unavailable).',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
      collect: flushTallies,
    }),
    ingestSeconds: new HotHistogram({
      name: 'switchboard_ingest_duration_seconds',
      help: 'Time from request to 202 (body read, validated, durably queued in the stream).',
      labelNames: ['kind'] as const,
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    deliverySeconds: new HotHistogram({
      name: 'switchboard_delivery_latency_seconds',
      help: 'Ingest (event id time) to hand-off to the sockets of this node, by channel.',
      labelNames: ['channel'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    socketioEvents: new Counter({
      name: 'switchboard_socketio_events_received_total',
      help: 'Socket.IO events received from clients, by event (unknown names counted as "other").',
      labelNames: ['event'] as const,
      registers: [registry],
    }),
    socketioBroadcasts: new Counter({
      name: 'switchboard_socketio_broadcasts_received_total',
      help: 'Socket.IO adapter messages this node received for its sockets (broadcasts and room requests).',
      labelNames: ['kind'] as const,
      registers: [registry],
    }),
    socketioRecoveryFailures: new Counter({
      name: 'switchboard_socketio_recovery_failures_total',
      help: 'Socket.IO reconnects that asked to recover their session and did not, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    socketioErrors: new Counter({
      name: 'switchboard_socketio_errors_total',
      help: 'Socket.IO refusals and errors, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    channelMessages: new Counter({
      name: 'switchboard_channel_messages_total',
      help: 'Messages received from the engine for fan-out, by channel.',
      labelNames: ['channel'] as const,
      registers: [registry],
      collect: flushTallies,
    }),
  };
}
