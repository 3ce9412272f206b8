import type { Logger } from 'pino';
import type { Leases } from '@switchboard/engine';
import { slotOf, SlotScheduler } from './slots.js';

export interface LeadershipOptions {
  /** The lease's name in the engine. */
  lease: string;
  /** This process's name as a holder (unique per process). */
  holder: string;
  /** The shortest interval of the tasks: the lease never lives longer than 3/4 of it. */
  periodMs: number;
  /**
   * How long the lease lives unless renewed (default: 600 ms, or 3/4 of `periodMs` when that is
   * shorter). Its holder renews it, and every other process tries to take it, every quarter of
   * that: when the holder dies, another process leads within 1.25 times this (750 ms by
   * default), and a task that catches up runs the current slot at once.
   */
  leaseTtlMs?: number;
  /** Told each time this process gains or loses the lease. */
  onChange?: (leader: boolean) => void;
}

/** Work only the lease holder does, once per wall-clock slot of `intervalMs`. */
/** The default lease lifetime: short, so that a dead holder's tasks pause for under a second. */
const LEASE_TTL_MS = 600;

export interface LeaderTask {
  name: string;
  intervalMs: number;
  /**
   * Does the slot's work. Must make the work happen at most once per slot cluster-wide on its
   * own (a `slotGuard` commit) when that matters: two holders may overlap for a moment at a
   * handover (a paused process that has not yet noticed it lost the lease).
   */
  run(slot: number, now: number): Promise<void>;
  /** Run the current slot at once on becoming leader: the previous holder may have died before it. */
  catchUpOnAcquire: boolean;
}

/**
 * One lease in the engine and the tasks its holder runs. Exactly one process of the cluster
 * leads at a time (give or take a handover); each registered task runs on its own slot
 * schedule only while this process leads.
 */
export class Leadership {
  private leader = false;
  private stopped = false;
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly tasks: { task: LeaderTask; scheduler: SlotScheduler }[] = [];

  constructor(
    private readonly engine: Leases,
    private readonly options: LeadershipOptions,
    private readonly logger: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leader;
  }

  /** Registers a task (before `start`). */
  add(task: LeaderTask): this {
    const scheduler = new SlotScheduler(task.intervalMs, (slot, now) => {
      if (this.leader) this.run(task, slot, now);
    });
    this.tasks.push({ task, scheduler });
    return this;
  }

  /** The lease's lifetime: renewed (or contended for) every quarter of it. */
  private get leaseTtlMs(): number {
    const { periodMs, leaseTtlMs } = this.options;
    return Math.max(100, leaseTtlMs ?? Math.min(LEASE_TTL_MS, Math.floor((periodMs * 3) / 4)));
  }

  start(): void {
    this.renewTimer = setInterval(() => void this.renew(), Math.floor(this.leaseTtlMs / 4));
    void this.renew();
    for (const { scheduler } of this.tasks) scheduler.start();
  }

  /** Stops the tasks and hands the lease over at once instead of letting it run out. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.renewTimer);
    for (const { scheduler } of this.tasks) scheduler.stop();
    if (!this.leader) return;
    this.setLeader(false);
    await this.engine.releaseLease(this.options.lease, this.options.holder).catch((err: unknown) => {
      this.logger.debug({ err }, 'lease not released; it runs out by itself');
    });
  }

  private async renew(): Promise<void> {
    const { lease, holder } = this.options;
    let held: boolean;
    try {
      held = await this.engine.acquireLease(lease, holder, this.leaseTtlMs);
    } catch {
      // Unreachable engine: assume another process may hold it by now.
      held = false;
    }
    if (this.stopped || held === this.leader) return;
    this.setLeader(held);
    if (!held) {
      this.logger.warn({ lease, holder }, 'lease lost');
      return;
    }
    this.logger.info({ lease, holder }, 'lease acquired');
    const now = Date.now();
    for (const { task } of this.tasks) if (task.catchUpOnAcquire) this.run(task, slotOf(now, task.intervalMs), now);
  }

  private setLeader(leader: boolean): void {
    this.leader = leader;
    this.options.onChange?.(leader);
  }

  private run(task: LeaderTask, slot: number, now: number): void {
    task.run(slot, now).catch((err: unknown) => {
      this.logger.warn({ err, task: task.name, slot }, 'leader task failed');
    });
  }
}
