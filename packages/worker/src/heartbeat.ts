import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { CHANNELS, heartbeatSlotKey, statsFrame } from '@switchboard/protocol';
import { expireRecentVisitorsOp, readAnalyticsStats } from '@switchboard/state';
import type { WorkerMetrics } from './metrics.js';

const LEASE = 'heartbeat';
/** Stream housekeeping runs on every n-th beat of the leader. */
const TRIM_EVERY_BEATS = 12;

export interface HeartbeatOptions {
  intervalMs: number;
  holder: string;
}

/**
 * Exactly one worker publishes the heartbeat: the holder of a lease in the engine.
 *
 * Beats fall on wall-clock slots (multiples of the interval) and each slot is published at
 * most once (a marker in the same atomic commit), so a handover never doubles a beat. The lease
 * lives 3/4 of an interval and is renewed every 1/4: when the holder dies another worker takes
 * over, and beats the current slot, within two intervals of the last beat.
 */
export class Heartbeat {
  private leader = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private beats = 0;
  private stopped = false;

  constructor(
    private readonly engine: Engine,
    private readonly options: HeartbeatOptions,
    private readonly metrics: WorkerMetrics,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    const { intervalMs } = this.options;
    this.leaseTimer = setInterval(() => void this.renewLease(), Math.max(25, Math.floor(intervalMs / 4)));
    void this.renewLease();
    this.scheduleBeat();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.leaseTimer);
    clearTimeout(this.beatTimer);
    if (this.leader) {
      this.setLeader(false);
      // Hand over at once instead of making the others wait for the lease to expire.
      await this.engine.releaseLease(LEASE, this.options.holder).catch(() => undefined);
    }
  }

  private scheduleBeat(): void {
    if (this.stopped) return;
    const { intervalMs } = this.options;
    const untilNextSlot = intervalMs - (Date.now() % intervalMs);
    this.beatTimer = setTimeout(() => {
      if (this.leader) void this.beat();
      this.scheduleBeat();
    }, untilNextSlot + 1);
  }

  private async renewLease(): Promise<void> {
    const { intervalMs, holder } = this.options;
    let held: boolean;
    try {
      held = await this.engine.acquireLease(LEASE, holder, Math.max(75, Math.floor((intervalMs * 3) / 4)));
    } catch {
      held = false;
    }
    if (this.stopped) return;
    if (held && !this.leader) {
      this.setLeader(true);
      this.logger.info({ holder }, 'heartbeat lease acquired');
      // The previous holder may have died before beating this slot: beat it now (at most once).
      void this.beat();
    } else if (!held && this.leader) {
      this.setLeader(false);
      this.logger.warn({ holder }, 'heartbeat lease lost');
    }
  }

  private setLeader(leader: boolean): void {
    this.leader = leader;
    this.metrics.heartbeatLeader.set(leader ? 1 : 0);
  }

  private async beat(): Promise<void> {
    const { intervalMs } = this.options;
    const now = Date.now();
    const slot = Math.floor(now / intervalMs);
    try {
      const stats = await readAnalyticsStats(this.engine, now);
      const result = await this.engine.commit({
        guard: { kind: 'once', key: heartbeatSlotKey(slot), ttlS: Math.max(1, Math.ceil((intervalMs * 3) / 1000)) },
        ops: [expireRecentVisitorsOp(now)],
        publish: { channel: CHANNELS.analytics, frame: statsFrame('heartbeat', stats) },
      });
      if (!result.applied) return;
      this.metrics.heartbeats.inc();
      this.beats += 1;
      if (this.beats % TRIM_EVERY_BEATS === 0) await this.engine.trimIngest();
    } catch (err) {
      this.logger.warn({ err, slot }, 'heartbeat not published');
    }
  }
}
