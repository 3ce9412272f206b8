import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { CHANNELS, heartbeatSlotKey, statsFrame } from '@switchboard/protocol';
import { slotGuard, type LeaderTask } from '@switchboard/runtime';
import { expireRecentVisitorsOp, readAnalyticsStats } from '@switchboard/state';
import type { WorkerMetrics } from './metrics.js';

/** Stream housekeeping runs once every this many heartbeat intervals. */
const TRIM_EVERY_INTERVALS = 12;

/**
 * The heartbeat: the leader publishes the analytics statistics on every wall-clock slot of the
 * interval, at most once per slot cluster-wide (a marker in the same atomic commit), so a
 * handover never doubles a beat; a new leader beats the current slot at once, so a beat follows
 * the last one within two intervals even when its holder died.
 */
export function heartbeatTask(engine: Engine, intervalMs: number, metrics: WorkerMetrics, logger: Logger): LeaderTask {
  return {
    name: 'heartbeat',
    intervalMs,
    catchUpOnAcquire: true,
    async run(slot, now) {
      try {
        const stats = await readAnalyticsStats(engine, now);
        const result = await engine.commit({
          guard: slotGuard(heartbeatSlotKey(slot), intervalMs),
          ops: [expireRecentVisitorsOp(now)],
          publish: { channel: CHANNELS.analytics, frame: statsFrame('heartbeat', stats) },
        });
        if (result.applied) metrics.heartbeats.inc();
      } catch (err) {
        logger.warn({ err, slot }, 'heartbeat not published');
      }
    },
  };
}

/** Drops acknowledged entries from the ingest stream, from the leader only. Idempotent. */
export function trimTask(engine: Engine, heartbeatIntervalMs: number, logger: Logger): LeaderTask {
  return {
    name: 'trim-ingest',
    intervalMs: heartbeatIntervalMs * TRIM_EVERY_INTERVALS,
    catchUpOnAcquire: false,
    async run() {
      try {
        await engine.trimIngest();
      } catch (err) {
        logger.warn({ err }, 'ingest stream not trimmed');
      }
    },
  };
}
