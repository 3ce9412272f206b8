import type { Logger } from 'pino';
import type { Engine, PresenceEntry, PresenceMember } from '@switchboard/engine';

export interface TrackerOptions {
  /** PRESENCE_TTL_S: members are refreshed every third of it. */
  ttlS: number;
  /** PRESENCE_GRACE_S: a leave waits this long for the client to come back. */
  graceS: number;
  /** This gateway, as the owner of its members (unique per process). */
  owner: string;
  logger: Logger;
  /** Joins and leaves are gathered this long and written in one batch. */
  batchMs?: number;
  /** Called with each batch once written: the joins and the leaves (with their members). */
  onWritten?: (joins: PresenceEntry[], leaves: PresenceEntry[]) => void;
}

/**
 * One membership of this gateway: its member's parts, the connections holding it, and the pending
 * leave. One object per membership, found by channel then clientId (no key string, no entry or
 * member object kept per connection: they are made when written).
 */
class Held {
  leaving: NodeJS.Timeout | undefined = undefined;
  /** Open connections of this client on the channel here (a reconnect may overlap its close). */
  connections = 1;
  private userId: string | null;
  private info: Record<string, unknown>;

  constructor(
    readonly channel: string,
    readonly clientId: string,
    member: PresenceMember,
    public unlisted: boolean,
  ) {
    this.userId = member.userId;
    this.info = member.info;
  }

  /** Held again by a newer connection, with its member. */
  retake(member: PresenceMember, unlisted: boolean): void {
    this.userId = member.userId;
    this.info = member.info;
    this.unlisted = unlisted;
  }

  get entry(): PresenceEntry {
    return { channel: this.channel, member: { clientId: this.clientId, userId: this.userId, info: this.info }, unlisted: this.unlisted };
  }
}

/**
 * This gateway's side of presence: the memberships of its connections, registered on join,
 * refreshed all together every TTL/3 in one batch, and removed on leave after the grace period
 * (a client back within it, here or on another gateway with the same clientId, never left).
 * Joins and leaves are gathered for `batchMs` and written in one batch each.
 */
export class PresenceTracker {
  /** By channel, then clientId. */
  private readonly held = new Map<string, Map<string, Held>>();
  private count = 0;
  private readonly joins = new Set<Held>();
  /** Memberships held here again (a connection back, the newest): written as joins, reported as none. */
  private readonly retakes = new Set<Held>();
  private readonly leaves: PresenceEntry[] = [];
  private batch: NodeJS.Timeout | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private readonly batchMs: number;

  constructor(
    private readonly engine: Engine,
    private readonly options: TrackerOptions,
  ) {
    this.batchMs = options.batchMs ?? 50;
  }

  /** Memberships held here (leaving ones included). */
  get size(): number {
    return this.count;
  }

  start(): void {
    this.refresher = setInterval(() => void this.refreshAll(), (this.options.ttlS * 1000) / 3);
    this.refresher.unref();
  }

  /**
   * Stops refreshing, without leaving: on a drain the clients reconnect to other gateways,
   * which take their memberships over; those that do not expire within the TTL.
   */
  stop(): void {
    clearInterval(this.refresher);
    clearTimeout(this.batch);
    for (const held of this.all()) clearTimeout(held.leaving);
    this.held.clear();
    this.count = 0;
  }

  /** `unlisted`: an index of the gateways' own, kept out of the channel list (see Presence). */
  join(channel: string, member: PresenceMember, unlisted = false): void {
    let members = this.held.get(channel);
    if (members === undefined) this.held.set(channel, (members = new Map<string, Held>()));
    const held = members.get(member.clientId);
    if (held !== undefined) {
      // Back within the grace period (or a second connection with the same id): no leave, no join.
      // Written again all the same, taking it over: meanwhile it may have been on another gateway,
      // which the periodic refresh (`keep`) never takes it from.
      clearTimeout(held.leaving);
      held.leaving = undefined;
      held.connections += 1;
      held.retake(member, unlisted);
      if (!this.joins.has(held)) this.retakes.add(held);
      this.schedule();
      return;
    }
    const added = new Held(channel, member.clientId, member, unlisted);
    members.set(member.clientId, added);
    this.count += 1;
    this.joins.add(added);
    this.schedule();
  }

  leave(channel: string, clientId: string): void {
    const members = this.held.get(channel);
    const held = members?.get(clientId);
    if (members === undefined || held === undefined) return;
    held.connections -= 1;
    if (held.connections > 0) return;
    const gone = () => {
      members.delete(clientId);
      if (members.size === 0 && this.held.get(channel) === members) this.held.delete(channel);
      this.count -= 1;
      this.joins.delete(held);
      this.retakes.delete(held);
      this.leaves.push(held.entry);
      this.schedule();
    };
    if (this.options.graceS === 0) gone();
    else held.leaving = setTimeout(gone, this.options.graceS * 1000);
  }

  /** Writes the gathered joins and leaves now (tests, shutdown). */
  async flush(): Promise<void> {
    clearTimeout(this.batch);
    this.batch = undefined;
    const entriesOf = (held: Set<Held>) => {
      const entries = [...held].map((h) => h.entry);
      held.clear();
      return entries;
    };
    const joins = entriesOf(this.joins);
    const writes = [...joins, ...entriesOf(this.retakes)];
    const leaves = this.leaves.splice(0);
    const { ttlS, owner, logger } = this.options;
    // Leaves go out first: a client that left and joined again within one batch ends up present
    // (both are sent at once, in this order, to the shard of their channel).
    await Promise.all([
      leaves.length === 0
        ? undefined
        : this.engine.presence
            .leave(
              leaves.map((entry) => ({ channel: entry.channel, clientId: entry.member.clientId })),
              owner,
            ).catch((err: unknown) => logger.warn({ err, count: leaves.length }, 'presence leaves not written; they expire within the TTL')),
      writes.length === 0
        ? undefined
        : this.engine.presence.refresh(writes, ttlS, owner).catch((err: unknown) => logger.warn({ err, count: writes.length }, 'presence joins not written; the next refresh retries')),
    ]);
    if (joins.length > 0 || leaves.length > 0) this.options.onWritten?.(joins, leaves);
  }

  /**
   * Refreshes every membership held here in one batch, never taking one from another gateway: a
   * client that moved on belongs to the gateway it moved to, even while this one has not yet seen
   * its connection close (`keep`; leaving ones are only extended: `ifOwned`).
   */
  async refreshAll(): Promise<void> {
    const entries = [...this.all()].map((held): PresenceEntry => ({ ...held.entry, mode: held.leaving === undefined ? 'keep' : 'ifOwned' }));
    if (entries.length === 0) return;
    try {
      await this.engine.presence.refresh(entries, this.options.ttlS, this.options.owner);
    } catch (err) {
      this.options.logger.warn({ err, count: entries.length }, 'presence refresh failed; retrying at the next period');
    }
  }

  private *all(): Generator<Held> {
    for (const members of this.held.values()) yield* members.values();
  }

  private schedule(): void {
    this.batch ??= setTimeout(() => void this.flush(), this.batchMs);
  }
}
