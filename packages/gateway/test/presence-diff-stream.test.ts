import { describe, expect, it } from 'vitest';
import type { ChannelMessage } from '@switchboard/engine';
import { mergeMissed } from '../src/presence/diff-stream.js';

const frame = (offset: number): ChannelMessage => ({ frame: `{"type":"presence_diff","offset":${offset}}`, offset, epoch: 'e1' });

describe('mergeMissed (the presence resume seam)', () => {
  it('joins history and the windows emitted meanwhile, each frame once, in offset order', () => {
    const merged = mergeMissed([frame(4), frame(5), frame(6)], [frame(6), frame(7), frame(8)], 3, 7);
    expect(merged?.map((m) => m.offset)).toEqual([4, 5, 6, 7]);
  });

  it('is empty when the client is at the seam, and undefined when a frame is missing or the client is ahead', () => {
    expect(mergeMissed([], [], 7, 7)).toEqual([]);
    expect(mergeMissed([frame(4), frame(6)], [], 3, 6)).toBeUndefined();
    expect(mergeMissed([], [], 9, 7)).toBeUndefined();
  });
});
