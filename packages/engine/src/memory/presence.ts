import {
  presenceUserKey,
  type ChannelOccupancy,
  type Occupancy,
  type Presence,
  type PresenceEntry,
  type PresenceMember,
  type PresencePage,
} from '../presence.js';

interface Stored {
  member: PresenceMember;
  userKey: string;
  owner: string;
  expiresAt: number;
}

/** One channel: its members by clientId, and how many connections each user key has. */
interface ChannelPresence {
  members: Map<string, Stored>;
  users: Map<string, number>;
  /** Left out of `channels()`. */
  unlisted: boolean;
}

const copy = (member: PresenceMember): PresenceMember => ({ ...member, info: structuredClone(member.info) });

/** The in-memory engine's presence: the same contract as Redis for one process (time: `Date.now()`). */
export class MemoryPresence implements Presence {
  private readonly channelMap = new Map<string, ChannelPresence>();

  refresh(entries: PresenceEntry[], ttlS: number, owner: string): Promise<void> {
    const now = Date.now();
    for (const { channel, member, mode = 'join', unlisted } of entries) {
      const held = this.sweep(channel, now)?.members.get(member.clientId);
      if (mode === 'ifOwned') {
        if (held?.owner === owner) held.expiresAt = now + ttlS * 1000;
        continue;
      }
      if (mode === 'keep' && held !== undefined && held.owner !== owner) continue;
      const state = this.sweep(channel, now) ?? { members: new Map<string, Stored>(), users: new Map<string, number>(), unlisted: unlisted === true };
      this.channelMap.set(channel, state);
      const userKey = presenceUserKey(member);
      const stored = state.members.get(member.clientId);
      if (stored?.userKey !== userKey) {
        if (stored !== undefined) decrement(state.users, stored.userKey);
        state.users.set(userKey, (state.users.get(userKey) ?? 0) + 1);
      }
      state.members.set(member.clientId, { member: copy(member), userKey, owner, expiresAt: now + ttlS * 1000 });
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
    // Code-unit order, as Redis orders the members of a sorted set of equal scores (by bytes) for ASCII ids.
    const ids = [...(state?.members.keys() ?? [])].filter((id) => cursor === undefined || id > cursor).sort();
    const page = ids.slice(0, limit);
    const members = page.map((id) => copy((state?.members.get(id) as Stored).member));
    return Promise.resolve({ members, next: ids.length > limit ? (page.at(-1) ?? null) : null });
  }

  async channels(): Promise<ChannelOccupancy[]> {
    const names = [...this.channelMap].filter(([, state]) => !state.unlisted).map(([name]) => name);
    const occupancy = await this.occupancy(names);
    return names.map((channel, i) => ({ channel, ...(occupancy[i] as Occupancy) })).filter((c) => c.connections > 0);
  }

  /** The channel's state without its expired members; undefined (and forgotten) once empty. */
  private sweep(channel: string, now: number): ChannelPresence | undefined {
    const state = this.channelMap.get(channel);
    if (state === undefined) return undefined;
    for (const [clientId, stored] of state.members) if (stored.expiresAt <= now) this.remove(channel, state, clientId);
    return this.channelMap.get(channel);
  }

  private remove(channel: string, state: ChannelPresence, clientId: string): void {
    const stored = state.members.get(clientId);
    if (stored === undefined) return;
    state.members.delete(clientId);
    decrement(state.users, stored.userKey);
    if (state.members.size === 0) this.channelMap.delete(channel);
  }
}

function decrement(users: Map<string, number>, userKey: string): void {
  const count = (users.get(userKey) ?? 0) - 1;
  if (count <= 0) users.delete(userKey);
  else users.set(userKey, count);
}
