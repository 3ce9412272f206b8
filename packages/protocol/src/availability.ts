import { z } from 'zod';
import { nonEmptyString } from './common.js';

/** The one event type of the availability product (also the RabbitMQ routing key). */
export const AVAILABILITY_EVENT_TYPE = 'tour.availability.low';
/** The original server's greeting, kept word for word. */
export const AVAILABILITY_GREETING = 'Connecté au serveur WebSocket - Disponibilités en temps réel';

const count = (min: number) =>
  z
    .number({ error: 'expected an integer' })
    .int({ error: 'expected an integer' })
    .min(min, { error: `expected an integer of at least ${min}` });

const KNOWN_FIELDS = new Set(['tourId', 'tourTitle', 'availableSeats', 'maxGroupSize', 'threshold']);

/**
 * `POST /availability` body, and the body of a RabbitMQ `tour.availability.low` message:
 * `{tourId, tourTitle, availableSeats, maxGroupSize, threshold}`. Extra fields are kept, after
 * the known ones.
 */
export const availabilityIngestSchema = z
  .looseObject(
    {
      tourId: nonEmptyString(128),
      tourTitle: nonEmptyString(512),
      availableSeats: count(0),
      maxGroupSize: count(1),
      threshold: count(0),
    },
    { error: 'expected a JSON object' },
  )
  .transform((body) => {
    const extras: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(body)) if (!KNOWN_FIELDS.has(key)) extras[key] = value;
    return {
      tourId: body.tourId,
      tourTitle: body.tourTitle,
      availableSeats: body.availableSeats,
      maxGroupSize: body.maxGroupSize,
      threshold: body.threshold,
      ...extras,
    };
  });
export type AvailabilityData = z.output<typeof availabilityIngestSchema>;

/** Client → server frames on `/ws/availability`. */
export const availabilityClientMessageSchema = z.discriminatedUnion('type', [z.object({ type: z.literal('ping') })], {
  error: 'unknown message type (expected ping)',
});

// Frames: built by hand, `type` first (see analytics.ts).

const iso = (ms: number): string => JSON.stringify(new Date(ms).toISOString());

// Every interpolated value is JSON-encoded (see analytics.ts).

export const connectionFrame = (clientId: string, now = Date.now()): string =>
  `{"type":"connection","clientId":${JSON.stringify(clientId)},"message":${JSON.stringify(AVAILABILITY_GREETING)},"timestamp":${iso(now)}}`;

/** One event; `id` (an extra field) is the ingest id. */
export const availabilityEventFrame = (event: { id: string; data: AvailabilityData; timestamp: string }): string =>
  `{"type":${JSON.stringify(AVAILABILITY_EVENT_TYPE)},"id":${JSON.stringify(event.id)},"data":${JSON.stringify(event.data)},` +
  `"timestamp":${JSON.stringify(event.timestamp)}}`;

/** The server's keep-alive, every AVAILABILITY_PING_INTERVAL_MS. */
export const serverPingFrame = (now = Date.now()): string => `{"type":"ping","timestamp":${iso(now)}}`;
