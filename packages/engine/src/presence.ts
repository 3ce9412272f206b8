/**
 * Presence: who is connected to each channel, across every gateway. Gateways register their
 * connections' memberships and refresh them in batches; a member not refreshed within its TTL
 * (its gateway died) expires by itself. Both engines keep this contract.
 */

/** One connection on a channel. */
export interface PresenceMember {
  /** The connection (unique across the cluster). */
  clientId: string;
  /** The user (a JWT's `sub`), or null when anonymous. */
  userId: string | null;
  /** A small JSON object the gateway attaches (a display name, the endpoint). */
  info: Record<string, unknown>;
}

/**
 * How many are on a channel: `connections`, and `users`: distinct user ids, one user with several
 * connections counting once (an anonymous connection counts as a user of its own).
 */
export interface Occupancy {
  connections: number;
  users: number;
}

/**
 * How a refresh treats a membership that another owner may hold (a client that moved between
 * gateways with the same clientId is held by the one that saw it last):
 * - `join` (the default): registers it, or takes it over: the newest connection wins.
 * - `keep`: extends it while the refreshing owner holds it, registers it when absent (or expired),
 *   never takes it from another owner: a gateway's periodic refresh of its open connections, which
 *   must not take back a client that already reconnected elsewhere before this gateway saw it close.
 * - `ifOwned`: only extends it while the refreshing owner holds it (never registers it): a client
 *   that closed and may be back, here or on another gateway.
 */
export type PresenceRefreshMode = 'join' | 'keep' | 'ifOwned';

/** A membership to register or refresh. */
export interface PresenceEntry {
  channel: string;
  member: PresenceMember;
  /** See PresenceRefreshMode; `join` when absent. */
  mode?: PresenceRefreshMode;
  /** Kept out of `channels()` (an index of the gateways' own, such as one user's connections). */
  unlisted?: boolean;
}

/**
 * JSON text kept as text: the server API writes it into its answer as is (no parse, no
 * re-serialization); anything else that serializes it gets the same JSON (`toJSON`).
 */
export class JsonText {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text) as unknown;
  }
}

/**
 * A page of a channel's members, ordered by clientId, as the engine stores them: one JSON array
 * text (`list`, each element a PresenceMember), read in one round trip and parsed only when
 * `members` is used.
 */
export class PresencePage {
  private parsed: PresenceMember[] | undefined;

  constructor(
    /** The members: a JSON array of PresenceMember. */
    readonly list: JsonText,
    /** How many members `list` holds. */
    readonly count: number,
    /** Pass as `cursor` for the next page; null on the last one. */
    readonly next: string | null,
  ) {}

  /** The members, parsed (once) from `list`. */
  get members(): PresenceMember[] {
    return (this.parsed ??= JSON.parse(this.list.text) as PresenceMember[]);
  }
}

/** A member as stored and listed: its JSON, clientId first (the order the server API answers). */
export const memberJson = (member: PresenceMember): string =>
  JSON.stringify({ clientId: member.clientId, userId: member.userId, info: member.info });

export interface ChannelOccupancy extends Occupancy {
  channel: string;
}

export interface Presence {
  /**
   * Registers memberships, or refreshes them, for `owner` (the gateway holding the connections),
   * each as its `mode` says: each expires `ttlS` seconds from now unless refreshed again. One batched round trip (one per
   * Redis Cluster slot), whatever the count.
   */
  refresh(entries: PresenceEntry[], ttlS: number, owner: string): Promise<void>;
  /**
   * Removes memberships (connections that left); unknown ones are ignored. With `owner`, only
   * those `owner` refreshed last: a client that moved to another gateway stays.
   */
  leave(entries: { channel: string; clientId: string }[], owner?: string): Promise<void>;
  /** Occupancy of each channel, in order: constant work per channel (besides dropping expired members). */
  occupancy(channels: string[]): Promise<Occupancy[]>;
  /** A page of a channel's members, ordered by clientId, after `cursor` when given: one round trip, the stored JSON as is. */
  members(channel: string, limit: number, cursor?: string): Promise<PresencePage>;
  /** Every channel with members (registered within their TTL, and not `unlisted`), with its occupancy. */
  channels(): Promise<ChannelOccupancy[]>;
}

/** The key one member counts under in `users`: its user id, or the connection itself when anonymous. */
export const presenceUserKey = (member: PresenceMember): string =>
  member.userId === null ? `c:${member.clientId}` : `u:${member.userId}`;
