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
import { admitUpgrade } from './admission.js';
import type { SocketData } from './connections.js';
import { observeDelivery, publishToTopic, rawEndpointSettings } from './fanout.js';
import { createInboundDecoder, rejectMessage, sendFrame } from './inbound.js';

const ENDPOINT = 'availability';
export const AVAILABILITY_PATH = '/ws/availability';

interface AvailabilitySocket extends SocketData {
  /** The `clientId` announced in the `connection` frame. */
  clientId: string;
}

/**
 * `/ws/availability` (DESIGN section 1.4): a `connection` greeting, every
 * `tour.availability.low` event (HTTP or RabbitMQ ingest), a server `ping` every
 * AVAILABILITY_PING_INTERVAL_MS, `pong` to a client's `ping`.
 */
export async function registerAvailabilityEndpoint(ctx: GatewayContext): Promise<{ stop(): void }> {
  const { app, config, engine, metrics, connections, logger } = ctx;
  const decode = createInboundDecoder(ctx, ENDPOINT);
  metrics.connections.set({ endpoint: ENDPOINT }, 0);

  app.ws<AvailabilitySocket>(AVAILABILITY_PATH, {
    ...rawEndpointSettings(config),

    upgrade: (res, req, context) => admitUpgrade<AvailabilitySocket>(ctx, ENDPOINT, res, req, context, { clientId: randomUUID() }),

    open: (ws) => {
      connections.add(ws);
      sendFrame(ws, connectionFrame(ws.getUserData().clientId), ctx);
      ws.subscribe(AVAILABILITY_TOPIC);
    },

    message: async (ws, message, isBinary) => {
      const json = await decode(ws, message, isBinary);
      if (json === undefined || ws.getUserData().closed) return;
      const parsed = validate(availabilityClientMessageSchema, json);
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
      sendFrame(ws, pongFrame(), ctx);
    },

    close: (ws, code) => connections.remove(ws, code),
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
