import fc from 'fast-check';
import { INGEST_KINDS, JOB_EVENT_TYPES, RESERVED_EVENT_TYPES } from '@switchboard/protocol';

/**
 * Hostile input for the fuzzers: arbitrary JSON, wrong types, deep nesting, huge strings, lone
 * surrogates, reserved types and crafted ids, mixed into bodies shaped like the real ones so
 * that many cases get past the first checks and into the worker.
 */

/** Ids and strings crafted to break string-built frames, keys and topics. */
const CRAFTED = [
  'av"1',
  'x","type":"heartbeat',
  'x\\',
  '\\u0000',
  '</script>',
  '"},{"type":"heartbeat","data":{"current_visitors":424242}}',
  '\u0000',
  '\ud800',
  'x\udfff',
  '\u2028\u2029',
  '__proto__',
  'constructor',
  '*',
  '01890a5d-ac96-774b-bcce-b302099a8057',
  '01890a5d-ac96-774b-bcce-b302099a8057"',
  '',
  ' ',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom(...CRAFTED, ...RESERVED_EVENT_TYPES, 'HEARTBEAT', 'Initial_Stats') },
  { weight: 1, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: 100_000 }).map((n) => 'x'.repeat(n)) },
);

/** Arrays and objects nested `depth` levels around a leaf. */
export const nestedValue = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = i % 3 === 0 ? [value] : { a: value };
  return value;
};

export const deepValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 25, max: 40 }).map((d) => nestedValue(d)),
  // Deeper than JSON.stringify in this process could encode is sent as text by the fuzzers.
  fc.integer({ min: 40, max: 3_000 }).map((d) => nestedValue(d)),
);

export const hostileKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'type', 'id', 'data', 'offset', 'epoch', 'toJSON', 'visitor_id') },
);

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.dictionary(hostileKey, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 }) },
  { weight: 1, arbitrary: deepValue },
  { weight: 1, arbitrary: fc.constantFrom(null, true, 0, -1, 1e308, -0, 2 ** 53 + 1, 1.5, [], {}) },
);

/** A field that is usually valid (from `valid`) and sometimes hostile. */
const field = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 5, arbitrary: valid as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: hostileValue });

const token = fc.stringMatching(/^[a-z][a-z0-9_]{0,15}$/);
const extras = fc.dictionary(hostileKey, hostileValue, { maxKeys: 3 });

/** A body shaped like `shape` (usually), with hostile fields, extra keys, or nothing like it. */
function shaped(shape: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const record = fc.record(shape, { requiredKeys: [] });
  return fc.oneof(
    { weight: 6, arbitrary: fc.tuple(record, extras).map(([body, more]) => ({ ...more, ...body })) },
    { weight: 2, arbitrary: hostileValue },
  );
}

export const INGEST_BODIES = {
  '/events': shaped({
    type: field(fc.oneof(token, fc.constantFrom(...RESERVED_EVENT_TYPES, 'Heartbeat'))),
    visitor_id: field(fc.string({ minLength: 1, maxLength: 20 })),
    data: field(fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 })),
    timestamp: field(fc.date({ min: new Date('2001-01-01'), max: new Date(), noInvalidDate: true }).map((d) => d.toISOString())),
  }),
  '/report': shaped({
    service: field(token),
    level: field(fc.constantFrom('error', 'warn', 'fatal', 'info')),
    error: field(fc.record({ message: field(fc.string()), stack: field(fc.string()) }, { requiredKeys: [] })),
    path: field(fc.string()),
    method: field(fc.constantFrom('GET', 'POST')),
    metadata: field(fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 })),
  }),
  '/jobs/fuzz-job/events': shaped({
    type: field(fc.constantFrom(...JOB_EVENT_TYPES)),
    data: field(
      fc.record({ itemsScraped: field(fc.nat()), pagesScraped: field(fc.nat()), currentPage: field(fc.nat()), totalPages: field(fc.nat()), elapsedTime: field(fc.nat()) }),
    ),
    ownerId: field(token),
  }),
  '/availability': shaped({
    tourId: field(token),
    tourTitle: field(fc.string({ minLength: 1 })),
    availableSeats: field(fc.nat(50)),
    maxGroupSize: field(fc.integer({ min: 1, max: 50 })),
    threshold: field(fc.nat(10)),
  }),
} as const;

const logEntry = shaped({
  appId: field(fc.constantFrom('fuzz-app', 'other-app')),
  level: field(fc.constantFrom('info', 'error', 'WARN')),
  message: field(fc.string()),
  userId: field(token),
  metadata: field(fc.dictionary(hostileKey, hostileValue, { maxKeys: 4 })),
  timestamp: field(fc.date({ min: new Date('2001-01-01'), max: new Date(), noInvalidDate: true }).map((d) => d.getTime())),
  id: field(fc.uuid()),
});

export const LOG_BODIES = {
  '/logs (single)': logEntry,
  '/logs (batch)': fc.array(logEntry, { minLength: 0, maxLength: 8 }),
} as const;

/** What is sent: JSON of a value, or raw text (usually not JSON), or raw bytes (not UTF-8). */
export type Payload = { json: unknown } | { text: string } | { bytes: Uint8Array };

export const payloadOf = (body: fc.Arbitrary<unknown>): fc.Arbitrary<Payload> =>
  fc.oneof(
    { weight: 12, arbitrary: body.map((json) => ({ json })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }).map((text) => ({ text })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 60 }).map((bytes) => ({ bytes })) },
  );

/** Encodes a payload for the wire. */
export function encode(payload: Payload): string | Buffer {
  if ('text' in payload) return payload.text;
  if ('bytes' in payload) return Buffer.from(payload.bytes);
  return JSON.stringify(payload.json) ?? 'null';
}

/** Fields of a stream entry a producer XADDs directly. */
export const streamEntry: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      kind: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...INGEST_KINDS) }, { weight: 1, arbitrary: hostileString }),
      id: fc.oneof(fc.uuid(), hostileString),
      at: fc.oneof(fc.constant(String(Date.now())), fc.constantFrom('9000000000000000', '-1', '0', 'soon', '1e3', ''), fc.nat().map(String)),
      body: fc.oneof(
        { weight: 4, arbitrary: fc.oneof(...Object.values(INGEST_BODIES), ...Object.values(LOG_BODIES)).map((b) => JSON.stringify(b) ?? 'null') },
        { weight: 1, arbitrary: fc.constant(JSON.stringify({ appId: 'fuzz-app' })) },
        { weight: 1, arbitrary: hostileString },
      ),
    },
    { requiredKeys: ['kind', 'body'] },
  )
  .map((fields) => Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as Record<string, string>);

/** Client messages per raw endpoint: the real message types with hostile fields, and anything else. */
export const CLIENT_MESSAGES = {
  analytics: shaped({
    type: field(fc.constantFrom('ping', 'refresh_stats', 'subscribe')),
    events: field(fc.array(fc.oneof(token, fc.constant('*'), hostileString), { maxLength: 70 })),
  }),
  availability: shaped({ type: field(fc.constant('ping')) }),
  logs: shaped({
    type: field(fc.constantFrom('auth', 'filter', 'request_history', 'clear', 'request_metrics', 'ping')),
    data: field(fc.record({ userId: field(token), appId: field(fc.constantFrom('fuzz-app', 'x')), token: field(fc.string()) }, { requiredKeys: [] })),
    filters: field(
      fc.record(
        { level: field(fc.array(field(token), { maxLength: 40 })), startTime: field(fc.integer()), endTime: field(fc.integer()) },
        { requiredKeys: [] },
      ),
    ),
  }),
} as const;

/** Socket.IO client events: the monitors' own, and others; arguments of any kind. */
export const SOCKET_IO_EVENTS = ['subscribe:service', 'unsubscribe:service', 'subscribe:level', 'unsubscribe:level', 'subscribe', 'unsubscribe'];
export const socketIoCall = fc.record({
  event: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...SOCKET_IO_EVENTS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) }),
  args: fc.array(
    fc.oneof({ weight: 3, arbitrary: token }, { weight: 3, arbitrary: hostileValue.filter((v) => JSON.stringify(v)?.length !== undefined) }),
    { maxLength: 3 },
  ),
});

/** A short, printable excerpt of a payload for failure messages. */
export const excerpt = (payload: Payload): string => {
  const wire = encode(payload);
  return (typeof wire === 'string' ? wire : `<bytes ${wire.toString('hex')}>`).slice(0, 200);
};
