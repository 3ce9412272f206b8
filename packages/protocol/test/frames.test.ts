import { describe, expect, it } from 'vitest';
import { appendFields, readFrameHead, readFrameOffset, withOffset } from '../src/frames.js';
import { analyticsEventFrame, statsFrame } from '../src/analytics.js';

describe('withOffset', () => {
  it('appends offset as the last field and keeps the frame valid JSON', () => {
    const frame = '{"type":"page_view","data":{"a":1}}';
    const out = withOffset(frame, 17);
    expect(out).toBe('{"type":"page_view","data":{"a":1},"offset":17}');
    expect(JSON.parse(out)).toEqual({ type: 'page_view', data: { a: 1 }, offset: 17 });
  });

  it('handles the empty object', () => {
    const out = withOffset('{}', 0);
    expect(out).toBe('{"offset":0}');
    expect(JSON.parse(out)).toEqual({ offset: 0 });
  });

  it('works on a frame built by statsFrame', () => {
    const stats = { current_visitors: 1, unique_today: 2, total_events: 3, letters_today: 0, timestamp: 1 };
    expect(JSON.parse(withOffset(statsFrame('heartbeat', stats), 123_456_789))).toEqual({
      type: 'heartbeat',
      data: stats,
      offset: 123_456_789,
    });
  });

  it('refuses something that is not a JSON object', () => {
    expect(() => withOffset('[1,2]', 1)).toThrow(TypeError);
    expect(() => withOffset('"text"', 1)).toThrow(TypeError);
  });
});

describe('readFrameHead', () => {
  const id = '01890a5d-ac96-774b-bcce-b302099a8057';

  it('reads type and id from a frame Switchboard built (fast path)', () => {
    const frame = analyticsEventFrame({ id, type: 'page_view', visitor_id: 'v', timestamp: '2025-01-01T00:00:00.000Z', data: {} });
    expect(readFrameHead(frame)).toEqual({ type: 'page_view', id });
    expect(readFrameHead(withOffset(frame, 5))).toEqual({ type: 'page_view', id });
  });

  it('reads the type of a frame without an id', () => {
    expect(readFrameHead('{"type":"heartbeat","data":{}}')).toEqual({ type: 'heartbeat', id: undefined });
  });

  it('does not parse the rest of the frame on the fast path', () => {
    // The head is all that is read: a frame whose tail is not JSON still routes by its head.
    expect(readFrameHead('{"type":"page_view","id":"' + id + '",<not json')).toEqual({ type: 'page_view', id });
  });

  it('falls back to JSON.parse when type is not the first field', () => {
    expect(readFrameHead(`{"id":"${id}","type":"page_view"}`)).toEqual({ type: 'page_view', id });
    expect(readFrameHead('{ "type" : "spaced" }')).toEqual({ type: 'spaced', id: undefined });
  });

  it('falls back to JSON.parse for a type with escaped characters', () => {
    expect(readFrameHead('{"type":"a\\"b","id":"x"}')).toEqual({ type: 'a"b', id: 'x' });
  });

  it('ignores a non-string id in the fallback', () => {
    expect(readFrameHead('{"data":1,"type":"t","id":5}')).toEqual({ type: 't', id: undefined });
  });

  it.each([
    ['garbage', 'not json at all'],
    ['an empty string', ''],
    ['truncated JSON', '{"data":{"type":"x"'],
    ['JSON without type', '{"data":1}'],
    ['a numeric type', '{"type":5}'],
    ['JSON null', 'null'],
    ['a JSON string', '"page_view"'],
    ['a JSON array', '[{"type":"x"}]'],
  ])('returns undefined for %s', (_name, frame) => {
    expect(readFrameHead(frame)).toBeUndefined();
  });
});

describe('edge cases of foreign frames', () => {
  it('falls back to JSON.parse for an id that is not a lowercase UUID', () => {
    expect(readFrameHead('{"type":"x","id":"ABCDEF00-0000-7000-8000-000000000000"}')).toEqual({
      type: 'x',
      id: 'ABCDEF00-0000-7000-8000-000000000000',
    });
    expect(readFrameHead('{"type":"x","id":"not-a-uuid"}')).toEqual({ type: 'x', id: 'not-a-uuid' });
  });

  it('appends the offset to whitespace-padded objects and keeps JSON valid', () => {
    expect(JSON.parse(withOffset('{ }', 1))).toEqual({ offset: 1 });
    expect(JSON.parse(withOffset('{"a":1}\n', 2))).toEqual({ a: 1, offset: 2 });
  });
});

describe('readFrameOffset', () => {
  it('reads the offset a publisher appended, and only that one', () => {
    expect(readFrameOffset(withOffset('{"type":"logs","payload":[]}', 42))).toBe(42);
    expect(readFrameOffset('{"type":"x","data":{"offset":5}}')).toBeUndefined();
    expect(readFrameOffset('{"type":"x"}')).toBeUndefined();
    expect(readFrameOffset('{"offset":7}')).toBe(7);
  });
});

describe('appendFields', () => {
  it('appends each field in order as the last fields of the object', () => {
    const out = appendFields('{"type":"connection","clientId":"c"}  ', { epoch: 'e-1', offset: 7, ok: true, none: null });
    expect(out).toBe('{"type":"connection","clientId":"c","epoch":"e-1","offset":7,"ok":true,"none":null}');
    expect(JSON.parse(out)).toEqual({ type: 'connection', clientId: 'c', epoch: 'e-1', offset: 7, ok: true, none: null });
  });

  it('escapes names and strings as JSON does', () => {
    const out = appendFields('{}', { 'a"b': 'x"\n' });
    expect(JSON.parse(out)).toEqual({ 'a"b': 'x"\n' });
  });

  it('gives the empty object its fields alone, and leaves a frame as it is with none', () => {
    expect(appendFields('{ }', { offset: 1 })).toBe('{"offset":1}');
    expect(appendFields('{"a":1}', {})).toBe('{"a":1}');
  });

  it('refuses something that is not a JSON object', () => {
    expect(() => appendFields('[1]', { offset: 1 })).toThrow(TypeError);
  });
});
