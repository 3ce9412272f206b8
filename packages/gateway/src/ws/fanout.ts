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

/**
 * How one endpoint fans a channel's frames out to uWS topics, with its counters and latency
 * histogram bound once: the per-frame path does no label lookups and allocates nothing.
 */
export interface FanoutMeter {
  /** Counts a frame received from the engine for fan-out (labelled with the meter's channel). */
  frame(): void;
  /** Publishes a frame to a topic (framed once for all its subscribers) and counts the recipients. */
  publish(topic: string, frame: string): void;
  /** Ingest → hand-off latency, from the time in the event's UUIDv7 id. */
  delivered(id: string | undefined): void;
}

const TYPE_PREFIX = '{"type":"';
const ID_PREFIX = '","id":"';
const UUID_LENGTH = 36;

/**
 * The event id of a frame as the worker builds it (`{"type":"…","id":"<uuid>",…`), for the
 * latency histogram only: a few index checks where the full head read scans the whole frame.
 * Undefined for any other shape (the frame is still delivered; it is just not timed).
 */
export function leadingEventId(frame: string): string | undefined {
  if (!frame.startsWith(TYPE_PREFIX)) return undefined;
  const typeEnd = frame.indexOf('"', TYPE_PREFIX.length);
  if (typeEnd === -1 || !frame.startsWith(ID_PREFIX, typeEnd)) return undefined;
  const from = typeEnd + ID_PREFIX.length;
  return frame.charCodeAt(from + UUID_LENGTH) === 0x22 ? frame.slice(from, from + UUID_LENGTH) : undefined;
}

/** The fan-out of `endpoint`; `channel` labels its frames and latency (default: the endpoint). */
export function fanoutMeter(ctx: GatewayContext, endpoint: string, channel = endpoint): FanoutMeter {
  const { app } = ctx;
  const counts = ctx.metrics.fanoutCounts(endpoint, channel);
  return {
    frame: counts.frame,
    publish(topic, frame) {
      const recipients = app.numSubscribers(topic);
      app.publish(topic, frame, false, frame.length >= FANOUT_COMPRESS_MIN_BYTES);
      if (recipients > 0) counts.sent(recipients);
    },
    delivered(id) {
      const sentAt = id === undefined ? undefined : eventIdTime(id);
      if (sentAt !== undefined) counts.delivery(Math.max(0, Date.now() - sentAt) / 1000);
    },
  };
}
