import type { HistoryRequest } from '@switchboard/engine';
import { randomUUID } from 'node:crypto';
import {
  AVAILABILITY_TOPIC,
  CHANNELS,
  availabilityClientMessageSchema,
  connectionFrame,
  pongFrame,
  serverPingFrame,
  validate,
} from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { fanoutMeter, leadingEventId } from './fanout.js';
import { rejectMessage, sendFrame } from './inbound.js';
import { rawPresenceMessage } from '../presence/raw-clients.js';
import { EndpointFeed } from './endpoint-feed.js';
import { registerRawEndpoint, resumeFromUpgrade, type RawSocket } from './raw-endpoint.js';

const ENDPOINT = 'availability';
export const AVAILABILITY_PATH = '/ws/availability';

interface AvailabilitySocket extends RawSocket {
  /** The `clientId` announced in the `connection` frame. */
  clientId: string;
  /** Where the client asked to resume from (`?epoch=&since=`). */
  resume: HistoryRequest | undefined;
}

/**
 * `/ws/availability` (docs/protocol-availability.md): a `connection` greeting, every
 * `tour.availability.low` event (HTTP or RabbitMQ ingest), a server `ping` every
 * AVAILABILITY_PING_INTERVAL_MS, `pong` to a client's `ping`.
 */
export async function registerAvailabilityEndpoint(ctx: GatewayContext): Promise<{ stop(): void }> {
  const { config, logger } = ctx;

  const fanout = fanoutMeter(ctx, ENDPOINT);
  const publish = (frame: string) => fanout.publish(AVAILABILITY_TOPIC, frame);

  const feed = new EndpointFeed(ctx, CHANNELS.availability, ENDPOINT, ({ frame }) => {
    fanout.frame();
    publish(frame);
    fanout.delivered(leadingEventId(frame));
  });

  registerRawEndpoint<AvailabilitySocket>(ctx, {
    endpoint: ENDPOINT,
    path: AVAILABILITY_PATH,
    admit: (req) => {
      const resume = resumeFromUpgrade(req);
      return 'status' in resume ? resume : { clientId: randomUUID(), resume: resume.request };
    },
    start: (ws) =>
      feed.attach(ws, {
        resume: ws.getUserData().resume,
        first: () => connectionFrame(ws.getUserData().clientId),
        replay: (_socket, messages) => messages.map((m) => m.frame),
        join: (socket) => socket.subscribe(AVAILABILITY_TOPIC),
      }),
    handle: (ws, json) => {
      const presence = rawPresenceMessage(ctx, ws, json, 'availability');
      if (presence !== undefined) return presence;
      const parsed = validate(availabilityClientMessageSchema, json);
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
      sendFrame(ws, pongFrame(), ctx);
    },
    closed: (ws) => feed.detach(ws),
  });

  await feed.start();

  // The keep-alive is per node: one frame for all of this node's clients.
  const pinger = setInterval(() => publish(serverPingFrame()), config.availabilityPingIntervalMs);
  pinger.unref();
  logger.debug({ intervalMs: config.availabilityPingIntervalMs }, 'availability keep-alive started');
  return { stop: () => clearInterval(pinger) };
}
