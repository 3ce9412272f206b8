import {
  JsonText,
  memberJson,
  PresencePage,
  presenceUserKey,
  type ChannelOccupancy,
  type Occupancy,
  type Presence,
  type PresenceEntry,
} from '../presence.js';

interface Stored {
  /** The member's JSON (memberJson), as pages list it. */
  json: string;
  userKey: string;
  owner: string;
  expiresAt: number;
}

/** One channel: its members by clientId, in clientId order, and how many connections each user key has. */
interface ChannelPresence {
  members: Map<string, Stored>;
  /** ClientIds in order: every member not in `added`, and maybe some removed since (see `ordered`). */
  order: string[];
  /** Members registered since `order` was last brought up to date. */
  added: string[];
  /** Members removed since then. */
  removed: number;
  users: Map<string, number>;
  /** No member expires before this (a bound: a sweep before it has nothing to do). */
  nextExpiry: number;
  /** Left out of `channels()`. */
  unlisted: boolean;
}

/** The first index of sorted `ids` whose id is after `cursor`. */
function after(ids: string[], cursor: string): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((ids[mid] as string) <= cursor) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** The in-memory engine's presence: the same contract as Redis for one process (time: `Date.now()`). */
export class MemoryPresence implements Presence {
  private readonly channelMap = new Map<string, ChannelPresence>();

  refresh(entries: PresenceEntry[], ttlS: number, owner: string): Promise<void> {
    const now = Date.now();
    const expiresAt = now + ttlS * 1000;
    for (const { channel, member, mode = 'join', unlisted } of entries) {
      const held = this.sweep(channel, now)?.members.get(member.clientId);
      if (mode === 'ifOwned') {
        if (held?.owner === owner) {
          held.expiresAt = expiresAt;
          this.expiresBy(channel, expiresAt);
        }
        continue;
      }
      if (mode === 'keep' && held !== undefined && held.owner !== owner) continue;
      let state = this.channelMap.get(channel);
      if (state === undefined) {
        state = { members: new Map(), order: [], added: [], removed: 0, users: new Map(), nextExpiry: expiresAt, unlisted: unlisted === true };
        this.channelMap.set(channel, state);
      }
      const userKey = presenceUserKey(member);
      if (held?.userKey !== userKey) {
        if (held !== undefined) decrement(state.users, held.userKey);
        state.users.set(userKey, (state.users.get(userKey) ?? 0) + 1);
      }
      if (held === undefined) state.added.push(member.clientId);
      state.members.set(member.clientId, { json: memberJson(member), userKey, owner, expiresAt });
      state.nextExpiry = Math.min(state.nextExpiry, expiresAt);
    }
    return Promise.resolve();
  }

  leave(entries: { channel: string; clientId: string }[], owner?: string): Promise<void> {
    for (const { channel, clientId } of entries) {
      const state = this.channelMap.get(channel);
      const stored = state?.members.get(clientId);
      if (state !== undefined && (owner === undefined || stored?.owner === owner)) this.remove(channel, state, clientId);
    }
    return Promise.resolve();
  }

  occupancy(channels: string[]): Promise<Occupancy[]> {
    const now = Date.now();
    return Promise.resolve(
      channels.map((channel) => {
        const state = this.sweep(channel, now);
        return { connections: state?.members.size ?? 0, users: state?.users.size ?? 0 };
      }),
    );
  }

  members(channel: string, limit: number, cursor?: string): Promise<PresencePage> {
    const state = this.sweep(channel, Date.now());
    if (state === undefined) return Promise.resolve(new PresencePage(new JsonText('[]'), 0, null));
    const ids = ordered(state);
    const from = cursor === undefined ? 0 : after(ids, cursor);
    const page = ids.slice(from, from + limit);
    const list = page.map((id) => (state.members.get(id) as Stored).json).join(',');
    const next = from + limit < ids.length ? (page.at(-1) ?? null) : null;
    return Promise.resolve(new PresencePage(new JsonText(`[${list}]`), page.length, next));
  }

  async channels(): Promise<ChannelOccupancy[]> {
    const names = [...this.channelMap].filter(([, state]) => !state.unlisted).map(([name]) => name);
    const occupancy = await this.occupancy(names);
    return names.map((channel, i) => ({ channel, ...(occupancy[i] as Occupancy) })).filter((c) => c.connections > 0);
  }

  /** A member of the channel expires at `at` (maybe sooner than any other). */
  private expiresBy(channel: string, at: number): void {
    const state = this.channelMap.get(channel);
    if (state !== undefined) state.nextExpiry = Math.min(state.nextExpiry, at);
  }

  /** The channel's state without its expired members; undefined (and forgotten) once empty. */
  private sweep(channel: string, now: number): ChannelPresence | undefined {
    const state = this.channelMap.get(channel);
    if (state === undefined || now < state.nextExpiry) return state;
    let next = Infinity;
    for (const [clientId, stored] of state.members) {
      if (stored.expiresAt <= now) this.remove(channel, state, clientId);
      else next = Math.min(next, stored.expiresAt);
    }
    state.nextExpiry = next;
    return this.channelMap.get(channel);
  }

  private remove(channel: string, state: ChannelPresence, clientId: string): void {
    const stored = state.members.get(clientId);
    if (stored === undefined) return;
    state.members.delete(clientId);
    state.removed += 1;
    decrement(state.users, stored.userKey);
    if (state.members.size === 0) this.channelMap.delete(channel);
  }
}

/**
 * The channel's clientIds in order (code-unit order, as Redis orders equal-score members by bytes
 * for ASCII ids): the registrations and removals since the last call are merged in, not sorted
 * again with the rest (a page of an unchanged channel costs no sort).
 */
function ordered(state: ChannelPresence): string[] {
  if (state.added.length === 0 && state.removed === 0) return state.order;
  const kept = state.removed === 0 ? state.order : state.order.filter((id) => state.members.has(id));
  const added = state.added.filter((id) => state.members.has(id)).sort();
  const merged: string[] = [];
  let i = 0;
  let j = 0;
  while (i < kept.length || j < added.length) {
    const next = j >= added.length || (i < kept.length && (kept[i] as string) <= (added[j] as string)) ? (kept[i++] as string) : (added[j++] as string);
    // An id removed and registered again is in both.
    if (merged.at(-1) !== next) merged.push(next);
  }
  state.order = merged;
  state.added = [];
  state.removed = 0;
  return merged;
}

function decrement(users: Map<string, number>, userKey: string): void {
  const count = (users.get(userKey) ?? 0) - 1;
  if (count <= 0) users.delete(userKey);
  else users.set(userKey, count);
}
