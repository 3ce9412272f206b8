import { withOffset } from '@switchboard/protocol';
import { createEpochSource, historyResult, readsFromEpochStart } from '../channel.js';
import {
  DEFAULT_HISTORY_LIMITS,
  publishesOf,
  type AppendOnceResult,
  type ChannelHandler,
  type ChannelMessage,
  type ChannelPosition,
  type Commit,
  type CommitOutcome,
  type CommitResult,
  type Engine,
  type EngineHealth,
  type HistoryLimits,
  type HistoryRequest,
  type HistoryResult,
  type IngestBacklog,
  type IngestOnce,
  type IntakeForward,
  type StoreRead,
  type StreamEntry,
  type StringRead,
  type TakeOver,
  type RedisNodeRole,
} from '../engine.js';
import { commitEach, validateCommit } from '../commit-rules.js';
import { delayOrWake } from '../wait.js';
import { ExpiringMap } from './expiring-map.js';
import { MemoryStore } from './memory-store.js';
import { MemoryDeadLetters } from './dead-letters.js';
import { MemoryPresence } from './presence.js';
import { RingBuffer } from './ring-buffer.js';

interface PendingEntry {
  entry: StreamEntry;
  consumer: string;
  deliveredAt: number;
}

/**
 * Runs a step of the in-memory engine as the Engine contract's promise: its result resolves it, a
 * throw rejects it (as a failed Redis command would), and the step itself runs at once, in call order.
 */
function settle<T>(step: () => T): Promise<T> {
  try {
    return Promise.resolve(step());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** A channel's epoch, latest offset and history (emptied once it outlives the TTL). */
interface ChannelState {
  epoch: string;
  offset: number;
  history: RingBuffer<ChannelMessage>;
  historyExpiresAt: number;
}

export interface MemoryEngineOptions {
  history?: HistoryLimits;
}

const NOTHING_FORWARDED: IntakeForward = Object.freeze({ forwarded: 0, duplicates: 0, deadLettered: 0, consumers: [] });

/**
 * The in-memory engine: the same contract as Redis for one process (`npm start` without
 * REDIS_URL). Unique visitors are counted exactly here (a Set) where Redis uses a HyperLogLog.
 */
export class MemoryEngine implements Engine {
  readonly kind = 'memory' as const;
  private readonly undelivered: StreamEntry[] = [];
  private readonly pending = new Map<string, PendingEntry>();
  readonly deadLetters = new MemoryDeadLetters();
  readonly presence = new MemoryPresence();
  private readonly store = new MemoryStore();
  private readonly markers = new ExpiringMap<true>();
  private readonly leases = new ExpiringMap<string>();
  /** Ingest dedupe markers: key → the value the first append kept. */
  private readonly dedupe = new ExpiringMap<string>();
  private readonly channels = new Map<string, ChannelState>();
  private readonly nextEpoch = createEpochSource();
  private readonly limits: HistoryLimits;
  /** Consumers announced alive, until their announcement runs out. */
  private readonly alive = new ExpiringMap<true>();
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private readonly waiters = new Set<() => void>();
  private lastMs = 0;
  private seq = 0;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(options: MemoryEngineOptions = {}) {
    this.limits = options.history ?? DEFAULT_HISTORY_LIMITS;
  }

  health(): EngineHealth {
    return 'memory';
  }

  connect(): Promise<void> {
    return settle(() => {
      this.sweeper = setInterval(() => {
        const now = Date.now();
        this.store.sweep(now);
        this.markers.sweep(now);
        this.leases.sweep(now);
        this.dedupe.sweep(now);
        this.alive.sweep(now);
        for (const state of this.channels.values()) this.expireHistory(state, now);
      }, 60_000);
      this.sweeper.unref();
    });
  }

  close(): Promise<void> {
    return settle(() => {
      clearInterval(this.sweeper);
      for (const wake of this.waiters) wake();
    });
  }

  /** Stream ids shaped like Redis's `<ms>-<seq>`, strictly increasing. */
  private nextStreamId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq += 1;
    }
    return `${this.lastMs}-${this.seq}`;
  }

  appendIngest(fields: Record<string, string>): Promise<string> {
    return settle(() => {
      const streamId = this.nextStreamId();
      this.undelivered.push({ streamId, fields: { ...fields }, deliveries: 0 });
      for (const wake of this.waiters) wake();
      return streamId;
    });
  }

  async appendIngestOnce(fields: Record<string, string>, once: IngestOnce): Promise<AppendOnceResult> {
    const existing = this.dedupe.get(once.key);
    if (existing !== undefined) return { duplicate: true, value: existing };
    // No await between the check and the set: one step, as the Redis script.
    this.dedupe.set(once.key, once.value, once.ttlS * 1000);
    return { duplicate: false, streamId: await this.appendIngest(fields) };
  }

  async readIngest(consumer: string, count: number, blockMs: number): Promise<StreamEntry[]> {
    if (this.undelivered.length === 0 && blockMs > 0) {
      await delayOrWake(blockMs, (wake) => {
        this.waiters.add(wake);
        return () => this.waiters.delete(wake);
      });
    }
    const taken = this.undelivered.splice(0, count);
    const now = Date.now();
    return taken.map((entry) => {
      const delivered = { ...entry, deliveries: 1 };
      this.pending.set(entry.streamId, { entry: delivered, consumer, deliveredAt: now });
      return delivered;
    });
  }

  claimStaleIngest(consumer: string, minIdleMs: number, count: number): Promise<StreamEntry[]> {
    return settle(() => {
      const now = Date.now();
      const claimed: StreamEntry[] = [];
      for (const pending of this.pending.values()) {
        if (claimed.length >= count) break;
        if (now - pending.deliveredAt < minIdleMs) continue;
        pending.consumer = consumer;
        pending.deliveredAt = now;
        pending.entry = { ...pending.entry, deliveries: pending.entry.deliveries + 1 };
        claimed.push(pending.entry);
      }
      return claimed;
    });
  }

  announceConsumer(consumer: string, ttlMs: number): Promise<void> {
    return settle(() => {
      this.alive.set(consumer, true, ttlMs);
    });
  }

  withdrawConsumer(consumer: string): Promise<void> {
    return settle(() => {
      this.alive.delete(consumer);
    });
  }

  takeOverDeadConsumers(consumer: string, count: number): Promise<TakeOver> {
    return settle(() => {
      const now = Date.now();
      const consumers = new Set<string>();
      const entries: StreamEntry[] = [];
      for (const pending of this.pending.values()) {
        if (entries.length >= count) break;
        if (pending.consumer === consumer || this.alive.has(pending.consumer, now)) continue;
        consumers.add(pending.consumer);
        pending.consumer = consumer;
        pending.deliveredAt = now;
        pending.entry = { ...pending.entry, deliveries: pending.entry.deliveries + 1 };
        entries.push(pending.entry);
      }
      return { consumers: [...consumers], entries };
    });
  }

  deadLetter(entry: StreamEntry, reason: string): Promise<void> {
    return settle(() => {
      this.pending.delete(entry.streamId);
      void this.deadLetters.add(entry, reason);
    });
  }

  ingestBacklog(): Promise<IngestBacklog> {
    return settle(() => {
      const backlog = { pending: this.pending.size, lag: this.undelivered.length };
      return { ...backlog, partitions: [backlog] };
    });
  }

  // IntakeQueue: no cluster in memory, so no intake (appendIngest is the ingest).

  readonly hasIntake = false;
  forwardIntake(): Promise<IntakeForward> {
    return Promise.resolve(NOTHING_FORWARDED);
  }
  recoverIntake(): Promise<IntakeForward> {
    return Promise.resolve(NOTHING_FORWARDED);
  }
  intakeBacklog(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  async trimIngest(): Promise<void> {
    // Acknowledged entries are dropped as they are acknowledged.
  }

  /**
   * Checks everything first (the commit's own rule, the guard, every op's key type), then
   * settles the guard and writes: a refused commit leaves its entry pending and changes nothing.
   */
  commit(commit: Commit): Promise<CommitResult> {
    return settle(() => {
      validateCommit(commit);
      const { guard } = commit;
      if (guard.kind === 'entry' && this.pending.get(guard.streamId)?.consumer !== guard.consumer) return { applied: false };
      if (guard.kind === 'once' && this.markers.has(guard.key)) return { applied: false };
      this.store.check(commit.ops);

      if (guard.kind === 'entry') this.pending.delete(guard.streamId);
      else if (guard.kind === 'once') this.markers.set(guard.key, true, guard.ttlS * 1000);
      for (const op of commit.ops) this.store.apply(op);
      const publishes = publishesOf(commit);
      if (publishes.length === 0) return { applied: true };
      const now = Date.now();
      const offsets = publishes.map(({ channel, frame }) => {
        const state = this.channelState(channel, now);
        state.offset += 1;
        const message: ChannelMessage = { frame: withOffset(frame, state.offset), offset: state.offset, epoch: state.epoch };
        state.history.push(message);
        state.historyExpiresAt = now + this.limits.ttlS * 1000;
        const handlers = this.handlers.get(channel);
        // Deliver asynchronously, like a network hop, so publishers never re-enter subscribers.
        if (handlers) queueMicrotask(() => [...handlers].forEach((h) => h(message)));
        return message.offset;
      });
      return { applied: true, offset: offsets[0], offsets };
    });
  }

  commitBatch(commits: Commit[]): Promise<CommitOutcome[]> {
    return commitEach((commit) => this.commit(commit), commits);
  }

  /** The channel's state, created with a new epoch on first use; history dropped once expired. */
  private channelState(channel: string, now: number): ChannelState {
    let state = this.channels.get(channel);
    if (state === undefined) {
      state = { epoch: this.nextEpoch(), offset: 0, history: new RingBuffer(this.limits.size), historyExpiresAt: 0 };
      this.channels.set(channel, state);
    }
    this.expireHistory(state, now);
    return state;
  }

  private expireHistory(state: ChannelState, now: number): void {
    if (state.history.size > 0 && now >= state.historyExpiresAt) state.history.clear();
  }

  position(channel: string): Promise<ChannelPosition> {
    return settle(() => {
      const { epoch, offset } = this.channelState(channel, Date.now());
      return { epoch, offset };
    });
  }

  history(channel: string, request: HistoryRequest): Promise<HistoryResult> {
    return settle(() => {
      const state = this.channelState(channel, Date.now());
      const oldest = state.history.at(0)?.offset ?? state.offset + 1;
      const since = readsFromEpochStart(request, state.epoch) ? 0 : request.since;
      // Offsets in the history are consecutive: the frame after `since` sits at a known index.
      const after = since >= state.offset ? [] : state.history.from(since + 1 - oldest);
      return historyResult(state, request, after);
    });
  }

  onSubscriptionsRestored(): () => void {
    // One process: the subscription can never be lost.
    return () => undefined;
  }

  probeSubscription(): Promise<boolean> {
    return settle(() => {
      return true;
    });
  }

  read(reads: StoreRead[]): Promise<number[]> {
    return settle(() => this.store.read(reads));
  }

  readStrings(reads: StringRead[]): Promise<string[][]> {
    return settle(() => this.store.readStrings(reads));
  }

  subscribe(channel: string, handler: ChannelHandler): Promise<void> {
    return settle(() => {
      let set = this.handlers.get(channel);
      if (set === undefined) {
        set = new Set();
        this.handlers.set(channel, set);
      }
      set.add(handler);
    });
  }

  unsubscribe(channel: string, handler: ChannelHandler): Promise<void> {
    return settle(() => {
      const set = this.handlers.get(channel);
      if (set === undefined || !set.delete(handler) || set.size > 0) return;
      this.handlers.delete(channel);
    });
  }

  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    return settle(() => {
      const current = this.leases.get(name);
      if (current !== undefined && current !== holder) return false;
      this.leases.set(name, holder, ttlMs);
      return true;
    });
  }

  releaseLease(name: string, holder: string): Promise<void> {
    return settle(() => {
      if (this.leases.get(name) === holder) this.leases.delete(name);
    });
  }

  leaseHolder(name: string): Promise<string | undefined> {
    return settle(() => this.leases.get(name));
  }


  redisNodes(): Promise<RedisNodeRole[]> {
    return Promise.resolve([]);
  }
}

