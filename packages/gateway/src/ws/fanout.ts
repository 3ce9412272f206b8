import uWS, { type WebSocketBehavior } from 'uWebSockets.js';
import type { Config } from '@switchboard/config';
import { eventIdTime } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { uwsMaxPayload } from './inbound.js';
import type { SocketData } from './connections.js';

/** uWebSockets.js settings every raw endpoint shares (explicit backpressure: docs/architecture.md#libraries-and-their-pitfalls). */
type SharedSettings = 'compression' | 'maxPayloadLength' | 'maxBackpressure' | 'closeOnBackpressureLimit' | 'idleTimeout' | 'sendPingsAutomatically';

export const rawEndpointSettings = (config: Config): Pick<WebSocketBehavior<SocketData>, SharedSettings> => ({
  compression: uWS.SHARED_COMPRESSOR,
  maxPayloadLength: uwsMaxPayload(config.wsMaxPayloadBytes),
  maxBackpressure: config.wsMaxBackpressureBytes,
  // A client that cannot keep up is disconnected (and reconnects) rather than silently missing
  // messages.
  closeOnBackpressureLimit: 1,
  idleTimeout: config.idleTimeoutS,
  sendPingsAutomatically: true,
});

/**
 * Fan-out frames smaller than this go out uncompressed, even to clients that negotiated
 * permessage-deflate (every browser offers it): uWS deflates a published message once per
 * subscriber (SHARED_COMPRESSOR shares the compressor's memory, not its output), which costs
 * ~20× the CPU of a plain send to save a few hundred bytes (bench/README.md, "Findings").
 * Direct replies (stats, pong) stay compressed; RFC 7692 allows uncompressed messages.
 */
const FANOUT_COMPRESS_MIN_BYTES = 4096;

/** Counts a frame received from the engine for fan-out on `channel` (the metric's label). */
export function countChannelFrame(ctx: GatewayContext, channel: string): void {
  ctx.metrics.fanoutTallies.frames(channel);
}

/** Publishes a frame to a topic (framed once for all its subscribers) and counts the recipients. */
export function publishToTopic(ctx: GatewayContext, endpoint: string, topic: string, frame: string): void {
  const recipients = ctx.app.numSubscribers(topic);
  ctx.app.publish(topic, frame, false, frame.length >= FANOUT_COMPRESS_MIN_BYTES);
  if (recipients > 0) ctx.metrics.fanoutTallies.sent(endpoint, recipients);
}

/** Ingest → hand-off latency, from the time in the event's UUIDv7 id. */
export function observeDelivery(ctx: GatewayContext, channel: string, id: string | undefined): void {
  const sentAt = id === undefined ? undefined : eventIdTime(id);
  if (sentAt !== undefined) ctx.metrics.deliverySeconds.observe({ channel }, Math.max(0, Date.now() - sentAt) / 1000);
}
