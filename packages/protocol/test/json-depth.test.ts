import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, nestsDeeperThan, parseJson } from '../src/index.js';

const nested = (depth: number, open = '[', close = ']') => `${open.repeat(depth)}${close.repeat(depth)}`;

describe('JSON nesting depth', () => {
  it('accepts nesting up to the limit and refuses one level more, arrays and objects alike', () => {
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH))).toBe(false);
    expect(nestsDeeperThan(nested(MAX_JSON_DEPTH + 1))).toBe(true);
    const objects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;
    expect(nestsDeeperThan(objects(MAX_JSON_DEPTH))).toBe(false);
    expect(nestsDeeperThan(objects(MAX_JSON_DEPTH + 1))).toBe(true);
  });

  it('ignores brackets inside strings, escaped quotes included', () => {
    const deepText = JSON.stringify({ text: '['.repeat(10_000), quoted: '\\"[[[[' + '{'.repeat(500) });
    expect(nestsDeeperThan(deepText)).toBe(false);
    expect(parseJson(deepText).ok).toBe(true);
  });

  it('counts depth, not the number of containers', () => {
    const wide = JSON.stringify(Array.from({ length: 10_000 }, () => [[1]]));
    expect(nestsDeeperThan(wide)).toBe(false);
  });

  it('parseJson refuses deep input naming the limit, before JSON.stringify could overflow', () => {
    const deep = nested(100_000);
    expect(() => JSON.stringify(JSON.parse(deep))).toThrow(RangeError);
    expect(parseJson(deep)).toEqual({ ok: false, error: `nested deeper than ${MAX_JSON_DEPTH} levels (the maximum JSON nesting depth)` });
    expect(parseJson('{"a":')).toEqual({ ok: false, error: 'invalid JSON' });
  });
});
