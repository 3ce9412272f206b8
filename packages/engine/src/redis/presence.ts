import type { Cluster, Redis, Result } from 'ioredis';
import { KEY_PREFIX } from '@switchboard/protocol';
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
import {
  PRESENCE_CHANNELS_SCRIPT,
  PRESENCE_LEAVE_SCRIPT,
  PRESENCE_OCCUPANCY_SCRIPT,
  PRESENCE_REFRESH_SCRIPT,
  PRESENCE_REGISTER_SCRIPT,
  PRESENCE_SWEEP_SCRIPT,
} from './presence-scripts.js';
import type { Topology } from './topology.js';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    sbPresenceRefresh(...args: (string | number)[]): Result<number, Context>;
    sbPresenceLeave(...args: (string | number)[]): Result<number, Context>;
    sbPresenceOccupancy(...args: (string | number)[]): Result<number[], Context>;
    sbPresenceSweep(...keys: string[]): Result<number, Context>;
    sbPresenceRegister(key: string, ...args: (string | number)[]): Result<number, Context>;
    sbPresenceChannels(key: string): Result<string[], Context>;
  }
}

/** Channels with presence, and when each was last refreshed (its own key: on a cluster, its own slot). */
export const PRESENCE_CHANNELS_KEY = `${KEY_PREFIX}presence:channels`;

/**
 * The four keys of a channel's presence, under the channel's hash tag (beside its position).
 * `presence2`: the layout of presence-scripts.ts, a key set of its own beside the former one
 * (`presence:*`), which gateways from before it keep during a rolling upgrade.
 */
export function presenceKeys(topology: Topology, channel: string): string[] {
  const { position } = topology.channel(channel);
  const base = position.slice(0, position.length - ':position'.length);
  return ['expiry', 'list', 'owners', 'users'].map((name) => `${base}:presence2:${name}`);
}

/** Groups items by the Redis Cluster slot of their channel: one script per group (one group on one Redis). */
function bySlot<T>(topology: Topology, items: T[], channelOf: (item: T) => string): Map<number, T[]> {
  const groups = new Map<number, T[]>();
  // A refresh carries every membership of a gateway, most of them on a few channels: each channel's slot is hashed once.
  const slots = new Map<string, number>();
  for (const item of items) {
    const channel = channelOf(item);
    let slot = slots.get(channel);
    if (slot === undefined) slots.set(channel, (slot = topology.groupOf(topology.channel(channel).position)));
    const group = groups.get(slot);
    if (group === undefined) groups.set(slot, [item]);
    else group.push(item);
  }
  return groups;
}

/**
 * Most items one script call carries: a batch of any size goes out as several calls, all sent at
 * once (one round trip), none holding Redis for long nor passing more arguments than a call takes.
 */
export const PRESENCE_SCRIPT_BATCH = 500;

const chunks = <T>(items: T[]): T[][] => {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += PRESENCE_SCRIPT_BATCH) out.push(items.slice(i, i + PRESENCE_SCRIPT_BATCH));
  return out;
};

/** Items of each channel, channels in first-seen order. */
function byChannel<T>(items: T[], channelOf: (item: T) => string): Map<string, T[]> {
  const channels = new Map<string, T[]>();
  for (const item of items) {
    const channel = channelOf(item);
    const list = channels.get(channel);
    if (list === undefined) channels.set(channel, [item]);
    else list.push(item);
  }
  return channels;
}

/**
 * Presence on Redis: each channel's members in four keys under its hash tag (see
 * presence-scripts.ts), kept by scripts, so every step is atomic on the channel's shard; a batch
 * is one script per slot (one in all on one Redis), sent at once.
 */
export class RedisPresence implements Presence {
  constructor(
    private readonly client: Redis | Cluster,
    private readonly topology: Topology,
  ) {
    client.defineCommand('sbPresenceRefresh', { lua: PRESENCE_REFRESH_SCRIPT });
    client.defineCommand('sbPresenceLeave', { lua: PRESENCE_LEAVE_SCRIPT });
    client.defineCommand('sbPresenceOccupancy', { lua: PRESENCE_OCCUPANCY_SCRIPT });
    client.defineCommand('sbPresenceSweep', { numberOfKeys: 4, lua: PRESENCE_SWEEP_SCRIPT });
    client.defineCommand('sbPresenceRegister', { numberOfKeys: 1, lua: PRESENCE_REGISTER_SCRIPT });
    client.defineCommand('sbPresenceChannels', { numberOfKeys: 1, lua: PRESENCE_CHANNELS_SCRIPT });
  }

  async refresh(entries: PresenceEntry[], ttlS: number, owner: string): Promise<void> {
    if (entries.length === 0) return;
    const ttlMs = Math.round(ttlS * 1000);
    const groups = [...bySlot(this.topology, entries, (e) => e.channel).values()].flatMap(chunks);
    await Promise.all([
      ...groups.map((group) => {
        const channels = byChannel(group, (e) => e.channel);
        const keys: string[] = [];
        const args: (string | number)[] = [ttlMs, owner, channels.size];
        for (const [channel, members] of channels) {
          keys.push(...presenceKeys(this.topology, channel));
          args.push(members.length);
          for (const { member, mode = 'join' } of members) {
            args.push(member.clientId, presenceUserKey(member), memberJson(member), mode);
          }
        }
        return this.client.sbPresenceRefresh(keys.length, ...keys, ...args);
      }),
      ...chunks([...new Set(entries.filter((e) => e.unlisted !== true).map((e) => e.channel))]).map((channels) =>
        this.client.sbPresenceRegister(PRESENCE_CHANNELS_KEY, ttlMs, ...channels),
      ),
    ]);
  }

  async leave(entries: { channel: string; clientId: string }[], owner = ''): Promise<void> {
    if (entries.length === 0) return;
    await Promise.all(
      [...bySlot(this.topology, entries, (e) => e.channel).values()].flatMap(chunks).map((group) => {
        const channels = byChannel(group, (e) => e.channel);
        const keys: string[] = [];
        const args: (string | number)[] = [owner, channels.size];
        for (const [channel, members] of channels) {
          keys.push(...presenceKeys(this.topology, channel));
          args.push(members.length, ...members.map((m) => m.clientId));
        }
        return this.client.sbPresenceLeave(keys.length, ...keys, ...args);
      }),
    );
  }

  async occupancy(channels: string[]): Promise<Occupancy[]> {
    const result = new Map<string, Occupancy>();
    await Promise.all(
      [...bySlot(this.topology, [...new Set(channels)], (c) => c).values()].flatMap(chunks).map(async (group) => {
        const keys = group.flatMap((channel) => presenceKeys(this.topology, channel));
        const flat = await this.client.sbPresenceOccupancy(keys.length, ...keys, group.length);
        group.forEach((channel, i) => result.set(channel, { connections: Number(flat[i * 2]), users: Number(flat[i * 2 + 1]) }));
      }),
    );
    return channels.map((channel) => result.get(channel) ?? { connections: 0, users: 0 });
  }

  async members(channel: string, limit: number, cursor?: string): Promise<PresencePage> {
    const keys = presenceKeys(this.topology, channel);
    // Past every entry of the cursor's clientId (`<cursor>\0<JSON>`), before any longer clientId.
    const from = cursor === undefined ? '-' : `[${cursor}\u0001`;
    // Written in the same tick on the slot's connection: one round trip, the sweep first.
    const [, entries] = await Promise.all([this.client.sbPresenceSweep(...keys), this.client.zrangebylex(keys[1] as string, from, '+', 'LIMIT', 0, limit + 1)]);
    const count = Math.min(limit, entries.length);
    const jsons: string[] = new Array<string>(count);
    for (let i = 0; i < count; i++) {
      const entry = entries[i] as string;
      jsons[i] = entry.slice(entry.indexOf('\0') + 1);
    }
    const last = entries[count - 1];
    const next = entries.length > limit && last !== undefined ? last.slice(0, last.indexOf('\0')) : null;
    return new PresencePage(new JsonText(`[${jsons.join(',')}]`), count, next);
  }

  async channels(): Promise<ChannelOccupancy[]> {
    const channels = await this.client.sbPresenceChannels(PRESENCE_CHANNELS_KEY);
    const occupancy = await this.occupancy(channels);
    return channels
      .map((channel, i) => ({ channel, ...(occupancy[i] ?? { connections: 0, users: 0 }) }))
      .filter((c) => c.connections > 0);
  }
}
