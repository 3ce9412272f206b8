import { describe, expect, it } from 'vitest';
import { validate } from '../src/errors.js';
import {
  LOG_BATCH_MAX_ENTRIES,
  completeLogEntry,
  joinLogPayloads,
  logIngestSchema,
  logStreamBodySchema,
  logsBatchFrame,
  logsClientMessageSchema,
  logsFrame,
  logsFramePayload,
  matchesLogFilter,
} from '../src/logs.js';
import { withOffset } from '../src/frames.js';

const entry = { appId: 'shop', level: 'info', message: 'hello' };

describe('logIngestSchema', () => {
  it('accepts one entry and marks it as not a batch', () => {
    const result = validate(logIngestSchema, entry);
    expect(result).toEqual({
      ok: true,
      value: {
        many: false,
        items: [{ appId: 'shop', level: 'info', message: 'hello', userId: undefined, timestamp: undefined, metadata: undefined }],
      },
    });
  });

  it('accepts an array, lower-cases levels, moves extra fields into metadata', () => {
    const result = validate(logIngestSchema, [
      entry,
      { appId: 'shop', level: 'ERROR', message: '', userId: 'u1', host: 'web-1', metadata: { a: 1 }, timestamp: '2025-01-01T00:00:00Z' },
    ]);
    if (!result.ok) throw new Error(result.error);
    expect(result.value.many).toBe(true);
    expect(result.value.items[1]).toEqual({
      appId: 'shop',
      level: 'error',
      message: '',
      userId: 'u1',
      timestamp: Date.UTC(2025, 0, 1),
      metadata: { host: 'web-1', a: 1 },
    });
  });

  it.each([
    [{ ...entry, level: 7 }, 'level: expected a non-empty string'],
    [[entry, { ...entry, level: '' }], '1.level: expected a non-empty string'],
    [[entry, entry, { ...entry, appId: 'no spaces' }], "2.appId: expected letters, digits, '_', '-', '.' or ':'"],
    [{ appId: 'a', level: 'info' }, 'message: expected a string'],
    [{ ...entry, metadata: [1] }, 'metadata: expected an object'],
    [{ ...entry, timestamp: 'soon' }, 'timestamp: expected an ISO-8601 date or unix milliseconds'],
    [[], 'body: expected at least one log entry'],
    [Array.from({ length: LOG_BATCH_MAX_ENTRIES + 1 }, () => entry), `body: expected at most ${LOG_BATCH_MAX_ENTRIES} log entries`],
    ['text', 'body: expected a JSON object'],
    [[entry, 'text'], '1: expected a JSON object'],
  ])('refuses %j naming the field', (body, error) => {
    expect(validate(logIngestSchema, body)).toEqual({ ok: false, error });
  });

  it('treats an id on HTTP as metadata, but keeps a stream body id', () => {
    const id = '01890a5d-ac96-774b-bcce-b302099a8057';
    const http = validate(logIngestSchema, { ...entry, id: 'mine' });
    expect(http.ok && http.value.items[0]?.metadata).toEqual({ id: 'mine' });
    const stream = validate(logStreamBodySchema, [{ ...entry, id }]);
    expect(stream.ok && stream.value.items[0]?.id).toBe(id);
    expect(validate(logStreamBodySchema, [{ ...entry, id: 'x' }])).toEqual({ ok: false, error: '0.id: expected a UUID' });
  });
});

describe('completeLogEntry', () => {
  it('fills id, timestamp and userId, in the original key order, without empty metadata', () => {
    const done = completeLogEntry({ appId: 'a', level: 'warn', message: 'm', userId: undefined, timestamp: undefined, metadata: undefined }, 'id-1', 1234);
    expect(JSON.stringify(done)).toBe('{"id":"id-1","timestamp":1234,"level":"warn","message":"m","appId":"a","userId":"anonymous"}');
    const withMeta = completeLogEntry({ appId: 'a', level: 'warn', message: 'm', userId: 'u', timestamp: 99, metadata: { k: 1 } }, 'id-2', 1234);
    expect(Object.keys(withMeta)).toEqual(['id', 'timestamp', 'level', 'message', 'metadata', 'appId', 'userId']);
    expect(withMeta.timestamp).toBe(99);
  });
});

describe('logs frames', () => {
  it('reads the payload back from a published frame and joins batches without re-encoding', () => {
    const a = withOffset(logsFrame(['{"id":"1"}', '{"id":"2"}']), 7);
    const b = withOffset(logsFrame(['{"id":"3","message":"has ] and [ inside"}']), 8);
    const payloads = [a, b].map(logsFramePayload) as string[];
    expect(payloads[0]).toBe('[{"id":"1"},{"id":"2"}]');
    const frame = logsBatchFrame(joinLogPayloads([...payloads, '[]']), 7, 8);
    expect(JSON.parse(frame)).toEqual({
      type: 'logs',
      payload: [{ id: '1' }, { id: '2' }, { id: '3', message: 'has ] and [ inside' }],
      fromOffset: 7,
      offset: 8,
    });
    expect(logsFramePayload('{"type":"cleared","payload":{"appId":"a"}}')).toBeUndefined();
  });
});

describe('logsClientMessageSchema and filters', () => {
  it('parses every message type and names bad fields', () => {
    expect(validate(logsClientMessageSchema, { type: 'auth', data: { userId: 'u', appId: 'a', token: 't' } }).ok).toBe(true);
    expect(validate(logsClientMessageSchema, { type: 'auth', data: { userId: 'u' } })).toEqual({
      ok: false,
      error: 'data.appId: expected a non-empty string',
    });
    expect(validate(logsClientMessageSchema, { type: 'filter', filters: { level: 'error' } })).toEqual({
      ok: false,
      error: 'filters.level: expected an array of levels',
    });
    expect(validate(logsClientMessageSchema, { type: 'filter' }).ok).toBe(true);
    for (const type of ['request_history', 'clear', 'request_metrics', 'ping']) {
      expect(validate(logsClientMessageSchema, { type }).ok).toBe(true);
    }
    expect(validate(logsClientMessageSchema, { type: 'nope' }).ok).toBe(false);
  });

  it('matches levels (any case) and the time window, bounds included', () => {
    const filter = { level: ['error', 'warn'], startTime: 100, endTime: 200 };
    expect(matchesLogFilter({ level: 'ERROR', timestamp: 100 }, filter)).toBe(true);
    expect(matchesLogFilter({ level: 'warn', timestamp: 200 }, filter)).toBe(true);
    expect(matchesLogFilter({ level: 'info', timestamp: 150 }, filter)).toBe(false);
    expect(matchesLogFilter({ level: 'error', timestamp: 99 }, filter)).toBe(false);
    expect(matchesLogFilter({ level: 'error', timestamp: 201 }, filter)).toBe(false);
    expect(matchesLogFilter({ level: 'info', timestamp: 1 }, { level: [] })).toBe(true);
    expect(matchesLogFilter({ level: 'info', timestamp: 1 }, undefined)).toBe(true);
  });
});
