import { describe, expect, it } from 'vitest';
import { LOG_BATCH_MAX_BYTES, LogBatch } from '../src/ws/logs/batch.js';

describe('LogBatch (the one batching rule of live and replayed log entries)', () => {
  it('joins consecutive frames\' entries with the offsets they cover, then starts empty', () => {
    const batch = new LogBatch();
    expect(batch.take()).toBeUndefined();
    expect(batch.add('[{"id":"a"}]', 4)).toBe(false);
    expect(batch.add('[{"id":"b"},{"id":"c"}]', 5)).toBe(false);
    expect(batch.empty).toBe(false);
    expect(batch.take()).toEqual({ payload: '[{"id":"a"},{"id":"b"},{"id":"c"}]', fromOffset: 4, toOffset: 5 });
    expect(batch.empty).toBe(true);
    batch.add('[{"id":"d"}]', 9);
    expect(batch.take()).toEqual({ payload: '[{"id":"d"}]', fromOffset: 9, toOffset: 9 });
  });

  it('says the batch must go out once it holds LOG_BATCH_MAX_BYTES', () => {
    const batch = new LogBatch();
    const half = `[{"m":"${'x'.repeat(LOG_BATCH_MAX_BYTES / 2)}"}]`;
    expect(batch.add(half, 1)).toBe(false);
    expect(batch.add(half, 2)).toBe(true);
    expect(batch.take()?.toOffset).toBe(2);
    expect(batch.add(half, 3)).toBe(false);
  });
});
