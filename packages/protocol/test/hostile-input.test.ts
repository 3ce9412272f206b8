import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { JSON_MAX_DEPTH, checkJsonDocument } from '../src/json-document.js';
import { validate } from '../src/errors.js';
import { analyticsEventFrame, analyticsIngestSchema, pongFrame, RESERVED_EVENT_TYPES, statsFrame } from '../src/analytics.js';
import { availabilityEventFrame, connectionFrame, serverPingFrame } from '../src/availability.js';
import { ingestEnvelopeSchema } from '../src/ingest.js';
import { readFrameHead, withOffset } from '../src/frames.js';

/** Any string, lone surrogates included (fast-check's default strings are well-formed). */
const anyString = fc.string({ unit: 'binary' });
const nested = (depth: number, leaf: unknown): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
};

describe('checkJsonDocument', () => {
  it('names the field holding a lone surrogate, in values and keys, at any depth', () => {
    expect(checkJsonDocument({ a: 'ok', b: ['fine', 'x\udc00'] })).toBe('b.1: expected well-formed Unicode (a lone surrogate)');
    expect(checkJsonDocument({ data: { ['k\ud800']: 1 } })).toBe('data.k\ufffd: expected well-formed Unicode (a lone surrogate)');
    expect(checkJsonDocument('\ud83d')).toBe('body: expected well-formed Unicode (a lone surrogate)');
    // A surrogate pair is well-formed.
    expect(checkJsonDocument({ emoji: '\ud83d\ude00' })).toBeUndefined();
  });

  it('agrees with String.prototype.isWellFormed on every string', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const wellFormed = !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text);
        expect(checkJsonDocument({ text }) === undefined).toBe(wellFormed);
        // fast-check's strings include "__proto__" now and then: refused as a key by its own rule.
        if (text !== '__proto__') expect(checkJsonDocument({ [text]: 1 }) === undefined).toBe(wellFormed);
      }),
    );
  });

  it(`accepts ${JSON_MAX_DEPTH} levels and refuses one more, naming the first two segments; never overflows`, () => {
    expect(checkJsonDocument(nested(JSON_MAX_DEPTH, 1))).toBeUndefined();
    expect(checkJsonDocument({ data: nested(JSON_MAX_DEPTH, 1) })).toBe(`data.a: nested deeper than ${JSON_MAX_DEPTH} levels`);
    expect(checkJsonDocument(JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`))).toBe(
      `0.0: nested deeper than ${JSON_MAX_DEPTH} levels`,
    );
  });

  it('refuses __proto__ keys, which copies would drop', () => {
    expect(checkJsonDocument(JSON.parse('{"data":{"__proto__":{"x":1}}}'))).toBe('data.__proto__: this key is not allowed');
  });

  it('whatever validate() accepts, JSON.stringify encodes, and the encoding is well-formed and parses back', () => {
    const schema = z.unknown();
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 40 }), anyString, (value, text) => {
        for (const input of [value, { value, text }]) {
          const result = validate(schema, input);
          if (!result.ok) continue;
          const encoded = JSON.stringify(result.value);
          expect(encoded === undefined || JSON.stringify(JSON.parse(encoded)) === encoded).toBe(true);
          if (encoded !== undefined) expect(checkJsonDocument(JSON.parse(encoded))).toBeUndefined();
        }
      }),
    );
  });
});

describe('analytics event types', () => {
  it.each([...RESERVED_EVENT_TYPES, 'HEARTBEAT', 'Initial_Stats'])('refuses the reserved type %s', (type) => {
    const result = validate(analyticsIngestSchema, { type, visitor_id: 'v' });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error).toMatch(/^type: reserved for server frames \(initial_stats, heartbeat, /);
  });

  it('accepts ordinary types', () => {
    expect(validate(analyticsIngestSchema, { type: 'page_view', visitor_id: 'v' }).ok).toBe(true);
    expect(validate(analyticsIngestSchema, { type: 'heartbeat_clicked', visitor_id: 'v' }).ok).toBe(true);
  });
});

describe('the ingest envelope', () => {
  const base = { kind: 'analytics', body: '{}' };
  it.each(['av"1', 'x","type":"heartbeat', 'a\\b', '', 'not-a-uuid', '01890a5d-ac96-774b-bcce-b302099a805'])('refuses the id %j', (id) => {
    expect(validate(ingestEnvelopeSchema, { ...base, id })).toEqual({ ok: false, error: 'id: expected a UUID' });
  });

  it.each(['9000000000000000', '-1', '0', '999', '1.5', 'soon', String(Date.now() + 2 * 86_400_000)])('refuses the at %j', (at) => {
    const result = validate(ingestEnvelopeSchema, { ...base, at });
    expect(!result.ok && result.error).toBe('at: expected unix milliseconds between 2000-01-01 and a day from now');
  });

  it('accepts a UUID id and a current at', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    expect(validate(ingestEnvelopeSchema, { ...base, id, at: String(Date.now()) }).ok).toBe(true);
  });
});

describe('frame builders and the frame-head reader', () => {
  const event = fc.record({
    id: anyString,
    type: anyString,
    visitor_id: anyString,
    timestamp: anyString,
    data: fc.dictionary(anyString, fc.jsonValue({ maxDepth: 3 })),
  });

  /** What a client sees: the frame parses, and its head is what readFrameHead read. */
  const expectHonest = (frame: string, type: string) => {
    const parsed = JSON.parse(frame) as Record<string, unknown>;
    expect(parsed['type']).toBe(type);
    const head = readFrameHead(frame);
    expect(head?.type).toBe(parsed['type']);
    expect(head?.id).toBe(typeof parsed['id'] === 'string' ? parsed['id'] : undefined);
    const withOff = readFrameHead(withOffset(frame, 7));
    expect(withOff).toEqual(head);
  };

  it('analytics and availability frames are valid JSON with exactly their fields, whatever the values hold', () => {
    fc.assert(
      fc.property(event, fc.nat(), (e, offset) => {
        const analytics = analyticsEventFrame(e);
        expect(Object.keys(JSON.parse(withOffset(analytics, offset)) as object)).toEqual(['type', 'id', 'visitor_id', 'timestamp', 'data', 'offset']);
        expectHonest(analytics, e.type);
        const availability = availabilityEventFrame({ id: e.id, timestamp: e.timestamp, data: e.data as never });
        expect(Object.keys(JSON.parse(availability) as object)).toEqual(['type', 'id', 'data', 'timestamp']);
        expectHonest(availability, 'tour.availability.low');
        expectHonest(connectionFrame(e.id), 'connection');
      }),
    );
  });

  it('stats, pong and ping frames are valid JSON', () => {
    const stats = { current_visitors: 1, unique_today: 2, total_events: 3, letters_today: 4, timestamp: 5 };
    expectHonest(statsFrame('heartbeat', stats), 'heartbeat');
    expectHonest(pongFrame(), 'pong');
    expectHonest(serverPingFrame(), 'ping');
  });

  it('is not fooled by a later duplicate or escaped key: it answers what JSON.parse sees', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    expect(readFrameHead(`{"type":"page_view","id":"${id}","type":"heartbeat"}`)).toEqual({ type: 'heartbeat', id });
    expect(readFrameHead(`{"type":"page_view","id":"${id}","t\\u0079pe":"heartbeat"}`)).toEqual({ type: 'heartbeat', id });
    expect(readFrameHead(`{"type":"page_view","id":"${id}","\\u0069d":"other"}`)).toEqual({ type: 'page_view', id: 'other' });
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('type', 'id', 't\\u0079pe', 'x'), fc.string()), (extra) => {
        const rest = Object.entries(extra).map(([k, v]) => `,"${k}":${JSON.stringify(v)}`).join('');
        const frame = `{"type":"page_view","id":"${id}"${rest}}`;
        const parsed = JSON.parse(frame) as { type: string; id: string };
        expect(readFrameHead(frame)).toEqual({ type: parsed.type, id: parsed.id });
      }),
    );
  });
});
