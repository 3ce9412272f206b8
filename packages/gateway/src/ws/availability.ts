import { randomUUID } from 'node:crypto';
import {
  AVAILABILITY_TOPIC,
  CHANNELS,
  availabilityClientMessageSchema,
  connectionFrame,
  pongFrame,
  readFrameHead,
  serverPingFrame,
  validate,
} from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { observeDelivery, publishToTopic } from './fanout.js';
import { rejectMessage, sendFrame } from './inbound.js';
import { registerRawEndpoint, type RawSocket } from './raw-endpoint.js';

const ENDPOINT = 'availability';
export const AVAILABILITY_PATH = '/ws/availability';

interface AvailabilitySocket extends RawSocket {
  /** The `clientId` announced in the `connection` frame. */
  clientId: string;
}

/**
 * `/ws/availability` (DESIGN section 1.4): a `connection` greeting, every
 * `tour.availability.low` event (HTTP or RabbitMQ ingest), a server `ping` every
 * AVAILABILITY_PING_INTERVAL_MS, `pong` to a client's `ping`.
 */
export async function registerAvailabilityEndpoint(ctx: GatewayContext): Promise<{ stop(): void }> {
  const { config, engine, metrics, logger } = ctx;

  registerRawEndpoint<AvailabilitySocket>(ctx, {
    endpoint: ENDPOINT,
    path: AVAILABILITY_PATH,
    admit: () => ({ clientId: randomUUID() }),
    start: (ws) => {
      sendFrame(ws, connectionFrame(ws.getUserData().clientId), ctx);
      if (!ws.getUserData().closed) ws.subscribe(AVAILABILITY_TOPIC);
    },
    handle: (ws, json) => {
      const parsed = validate(availabilityClientMessageSchema, json);
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
      sendFrame(ws, pongFrame(), ctx);
    },
  });

  const publish = (frame: string) => publishToTopic(ctx, ENDPOINT, AVAILABILITY_TOPIC, frame);

  await engine.subscribe(CHANNELS.availability, ({ frame }) => {
    metrics.channelMessages.inc({ channel: ENDPOINT });
    publish(frame);
    observeDelivery(ctx, ENDPOINT, readFrameHead(frame)?.id);
  });

  // The keep-alive is per node: one frame for all of this node's clients.
  const pinger = setInterval(() => publish(serverPingFrame()), config.availabilityPingIntervalMs);
  pinger.unref();
  logger.debug({ intervalMs: config.availabilityPingIntervalMs }, 'availability keep-alive started');
  return { stop: () => clearInterval(pinger) };
}
