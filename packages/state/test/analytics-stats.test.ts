import { describe, expect, it } from 'vitest';
import { MemoryEngine } from '@switchboard/engine';
import { analyticsEventOps, expireRecentVisitorsOp, readAnalyticsStats } from '../src/index.js';

let n = 0;
async function apply(engine: MemoryEngine, type: string, visitor: string, at: number): Promise<void> {
  n += 1;
  await engine.commit({ guard: { kind: 'once', key: `t${n}`, ttlS: 60 }, ops: analyticsEventOps({ type, visitor_id: visitor }, at) });
}

describe('analytics statistics', () => {
  it('counts totals, unique visitors per UTC day, letters and current visitors', async () => {
    const engine = new MemoryEngine();
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    const yesterday = Date.UTC(2026, 10, 21, 23, 59, 0);
    await apply(engine, 'page_view', 'a', yesterday);
    await apply(engine, 'page_view', 'a', now - 6 * 60_000); // today, but outside the 5-minute window
    await apply(engine, 'page_view', 'b', now - 60_000);
    await apply(engine, 'letter_generated', 'b', now - 30_000);
    await apply(engine, 'letter_generated', 'c', now);
    expect(await readAnalyticsStats(engine, now)).toEqual({
      current_visitors: 2, // b and c
      unique_today: 3, // a, b, c
      total_events: 5,
      letters_today: 2,
      timestamp: Math.floor(now / 1000),
    });
  });

  it('drops visitors older than the window on housekeeping', async () => {
    const engine = new MemoryEngine();
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    await apply(engine, 'page_view', 'old', now - 10 * 60_000);
    await apply(engine, 'page_view', 'new', now);
    await engine.commit({ guard: { kind: 'once', key: 'hk', ttlS: 60 }, ops: [expireRecentVisitorsOp(now)] });
    expect(await engine.read([{ op: 'zcount', key: 'sb:analytics:recent_visitors', min: 0 }])).toEqual([1]);
  });
});
