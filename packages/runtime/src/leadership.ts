import type { Logger } from 'pino';
import type { Engine } from '@switchboard/engine';
import { slotOf, SlotScheduler } from './slots.js';

export interface LeadershipOptions {
  /** The lease's name in the engine. */
  lease: string;
  /** This process's name as a holder (unique per process). */
  holder: string;
  /**
   * The lease lives 3/4 of this and is renewed every 1/4, so when the holder dies another
   * process holds it within one period; tasks catch up the current slot at once.
   */
  periodMs: number;
  /** Told each time this process gains or loses the lease. */
  onChange?: (leader: boolean) => void;
}

/** Work only the lease holder does, once per wall-clock slot of `intervalMs`. */
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
    private readonly engine: Engine,
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

  start(): void {
    const { periodMs } = this.options;
    this.renewTimer = setInterval(() => void this.renew(), Math.max(25, Math.floor(periodMs / 4)));
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
    const { lease, holder, periodMs } = this.options;
    let held: boolean;
    try {
      held = await this.engine.acquireLease(lease, holder, Math.max(75, Math.floor((periodMs * 3) / 4)));
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
