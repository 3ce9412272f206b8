import { describe, expect, it } from 'vitest';
import { GapDetector } from '../src/core/gaps.js';

describe('GapDetector', () => {
  it('takes the first offset as the baseline and accepts consecutive ones', () => {
    const gaps = new GapDetector();
    expect([41, 42, 43].map((o) => gaps.observe('analytics', o))).toEqual([undefined, undefined, undefined]);
  });

  it('reports a jump forward with the expected and received offsets', () => {
    const gaps = new GapDetector();
    gaps.observe('analytics', 7);
    expect(gaps.observe('analytics', 11)).toEqual({ channel: 'analytics', expected: 8, got: 11 });
    // The new offset is the new baseline: no second report for the same hole.
    expect(gaps.observe('analytics', 12)).toBeUndefined();
  });

  it('tracks channels independently', () => {
    const gaps = new GapDetector();
    gaps.observe('logs:a', 1);
    gaps.observe('logs:b', 100);
    expect(gaps.observe('logs:a', 2)).toBeUndefined();
    expect(gaps.observe('logs:b', 102)).toEqual({ channel: 'logs:b', expected: 101, got: 102 });
  });

  it('follows ranges (log batches cover fromOffset..offset)', () => {
    const gaps = new GapDetector();
    expect(gaps.observe('logs:a', 1, 5)).toBeUndefined();
    expect(gaps.observe('logs:a', 6, 9)).toBeUndefined();
    expect(gaps.observe('logs:a', 12, 12)).toEqual({ channel: 'logs:a', expected: 10, got: 12 });
  });

  it('treats an offset going backwards as a server reset (new baseline), not a gap', () => {
    const gaps = new GapDetector();
    gaps.observe('analytics', 500);
    expect(gaps.observe('analytics', 1)).toBeUndefined();
    expect(gaps.observe('analytics', 2)).toBeUndefined();
  });

  it('starts over after reset() and forget()', () => {
    const gaps = new GapDetector();
    gaps.observe('analytics', 1);
    gaps.observe('availability', 1);
    gaps.reset();
    expect(gaps.observe('analytics', 50)).toBeUndefined();
    gaps.forget('analytics');
    expect(gaps.observe('analytics', 90)).toBeUndefined();
  });

  it('ignores offsets that are not safe integers or inverted ranges', () => {
    const gaps = new GapDetector();
    gaps.observe('analytics', 1);
    expect(gaps.observe('analytics', Number.NaN)).toBeUndefined();
    expect(gaps.observe('analytics', 9, 3)).toBeUndefined();
    expect(gaps.observe('analytics', 2)).toBeUndefined();
  });
});
