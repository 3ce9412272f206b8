import { describe, expect, it } from 'vitest';
import { validate } from '../src/errors.js';
import { readFrameHead, withOffset } from '../src/frames.js';
import {
  AVAILABILITY_GREETING,
  availabilityEventFrame,
  availabilityIngestSchema,
  connectionFrame,
  serverPingFrame,
} from '../src/availability.js';

const event = { tourId: 't-1', tourTitle: 'Randonnée Montagne', availableSeats: 3, maxGroupSize: 15, threshold: 3 };

describe('availabilityIngestSchema', () => {
  it('accepts the event and keeps extra fields after the known ones', () => {
    const result = validate(availabilityIngestSchema, { source: 'catalog', ...event });
    if (!result.ok) throw new Error(result.error);
    expect(Object.keys(result.value)).toEqual(['tourId', 'tourTitle', 'availableSeats', 'maxGroupSize', 'threshold', 'source']);
  });

  it.each([
    [{ ...event, tourId: '' }, 'tourId: expected a non-empty string'],
    [{ ...event, availableSeats: '3' }, 'availableSeats: expected an integer'],
    [{ ...event, availableSeats: -1 }, 'availableSeats: expected an integer of at least 0'],
    [{ ...event, maxGroupSize: 1.5 }, 'maxGroupSize: expected an integer'],
    [{ tourId: 't' }, 'tourTitle: expected a non-empty string'],
    [[event], 'body: expected a JSON object'],
  ])('refuses %j naming the field', (body, error) => {
    expect(validate(availabilityIngestSchema, body)).toEqual({ ok: false, error });
  });
});

describe('availability frames', () => {
  it('builds the original frames, type first', () => {
    const at = Date.UTC(2025, 0, 9, 10);
    expect(JSON.parse(connectionFrame('c-1', at))).toEqual({
      type: 'connection',
      clientId: 'c-1',
      message: AVAILABILITY_GREETING,
      timestamp: '2025-01-09T10:00:00.000Z',
    });
    expect(JSON.parse(serverPingFrame(at))).toEqual({ type: 'ping', timestamp: '2025-01-09T10:00:00.000Z' });
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    const frame = withOffset(availabilityEventFrame({ id, data: event, timestamp: '2025-01-09T10:00:00.000Z' }), 4);
    expect(JSON.parse(frame)).toEqual({ type: 'tour.availability.low', id, data: event, timestamp: '2025-01-09T10:00:00.000Z', offset: 4 });
    expect(readFrameHead(frame)).toEqual({ type: 'tour.availability.low', id });
  });
});
