import type { Logger } from 'pino';
import type { ChannelMessage, Engine, PresenceEntry } from '@switchboard/engine';
import {
  KEY_PREFIX,
  PRESENCE_DIFF_WINDOW_MS,
  PRESENCE_LIST_MAX,
  parseJson,
  type OccupancyFrame,
  type PresenceDiff,
  type PresenceMemberFrame,
  type PresenceSnapshot,
} from '@switchboard/protocol';
import { apiChannel } from '../api/channel-names.js';
import { apiNameOf } from './channels.js';
import { DiffThrottle, type NetChange } from './diff-window.js';

/** The engine channel a channel's presence diffs travel on between gateways (with offsets and history, like any channel). */
export const presenceDiffChannel = (name: string): string => `${KEY_PREFIX}ch:presence:${name}`;

/** A local subscriber: gets each diff as an object. */
export type DiffListener = (diff: PresenceDiff) => void;

/** The clientId just before `clientId` (exclusive paging cursor), for a membership check; ids are ASCII. */
const cursorBefore = (clientId: string): string =>
  clientId.slice(0, -1) + String.fromCharCode(clientId.charCodeAt(clientId.length - 1) - 1) + '\u007f';

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const memberList = (value: unknown): PresenceMemberFrame[] => (Array.isArray(value) ? value.filter(isRecord).map((m) => m as unknown as PresenceMemberFrame) : []);

/**
 * Presence for clients that ask (docs/presence.md#for-clients). Outgoing: the joins and leaves this
 * gateway wrote, netted per channel over PRESENCE_DIFF_WINDOW_MS and published on the channel's
 * diff channel (one frame per window per gateway). Incoming: the diffs of every gateway, for the
 * channels local clients subscribed to, netted again per window and handed to the subscribers, so
 * a subscriber sees at most one presence frame per channel per window.
 */
export class PresenceClientFeed {
  private readonly outgoing: DiffThrottle;
  private readonly incoming: DiffThrottle;
  private readonly subscribers = new Map<string, Set<DiffListener>>();
  private readonly handlers = new Map<string, (message: ChannelMessage) => void>();

  constructor(
    private readonly engine: Engine,
    private readonly logger: Logger,
    windowMs = PRESENCE_DIFF_WINDOW_MS,
  ) {
    this.outgoing = new DiffThrottle(windowMs, (name, change) => void this.publish(name, change));
    this.incoming = new DiffThrottle(windowMs, (name, change) => this.deliver(name, change));
  }

  stop(): void {
    this.outgoing.stop();
    this.incoming.stop();
  }

  /** The tracker wrote these joins and leaves (listed channels only reach clients). */
  written(joins: PresenceEntry[], leaves: PresenceEntry[]): void {
    const byName = new Map<string, { joined: PresenceMemberFrame[]; left: PresenceMemberFrame[] }>();
    const slot = (entry: PresenceEntry) => {
      if (entry.unlisted === true) return undefined;
      const name = apiNameOf(entry.channel);
      if (name === undefined) return undefined;
      let found = byName.get(name);
      if (found === undefined) byName.set(name, (found = { joined: [], left: [] }));
      return found;
    };
    for (const entry of joins) slot(entry)?.joined.push(entry.member);
    for (const entry of leaves) slot(entry)?.left.push(entry.member);
    for (const [name, { joined, left }] of byName) this.outgoing.add(name, joined, left);
  }

  /** A channel's members (the first PRESENCE_LIST_MAX) and occupancy; undefined for an unknown channel. */
  async snapshot(name: string): Promise<PresenceSnapshot | undefined> {
    const channel = apiChannel(name);
    if (channel === undefined) return undefined;
    const [page, [occupancy]] = await Promise.all([this.engine.presence.members(channel.presence, PRESENCE_LIST_MAX), this.engine.presence.occupancy([channel.presence])]);
    const snapshot: PresenceSnapshot = { type: 'presence', channel: name, members: page.members, occupancy: occupancy ?? { connections: 0, users: 0 } };
    if (page.next !== null) snapshot.truncated = true;
    return snapshot;
  }

  /** Starts handing `listener` the channel's diffs; returns the function that stops it. */
  async subscribe(name: string, listener: DiffListener): Promise<() => void> {
    let listeners = this.subscribers.get(name);
    if (listeners === undefined) {
      listeners = new Set();
      this.subscribers.set(name, listeners);
      const handler = (message: ChannelMessage) => this.received(name, message);
      this.handlers.set(name, handler);
      await this.engine.subscribe(presenceDiffChannel(name), handler);
    }
    listeners.add(listener);
    return () => this.unsubscribe(name, listener);
  }

  private unsubscribe(name: string, listener: DiffListener): void {
    const listeners = this.subscribers.get(name);
    if (listeners === undefined || !listeners.delete(listener) || listeners.size > 0) return;
    this.subscribers.delete(name);
    const handler = this.handlers.get(name);
    this.handlers.delete(name);
    if (handler !== undefined) {
      this.engine.unsubscribe(presenceDiffChannel(name), handler).catch((err: unknown) => this.logger.warn({ err, name }, 'presence diff channel not left'));
    }
  }

  private received(name: string, message: ChannelMessage): void {
    const parsed = parseJson(message.frame);
    if (!parsed.ok || !isRecord(parsed.value)) return;
    const { joined, left, occupancy } = parsed.value;
    this.incoming.add(name, memberList(joined), memberList(left), isRecord(occupancy) ? (occupancy as unknown as OccupancyFrame) : undefined);
  }

  private deliver(name: string, change: NetChange): void {
    const listeners = this.subscribers.get(name);
    if (listeners === undefined) return;
    const diff: PresenceDiff = {
      type: 'presence_diff',
      channel: name,
      joined: [...change.joined.values()],
      left: [...change.left.values()],
      occupancy: change.occupancy ?? { connections: 0, users: 0 },
    };
    for (const listener of listeners) listener(diff);
  }

  /** One window of this gateway's changes on a channel, to every gateway. */
  private async publish(name: string, change: NetChange): Promise<void> {
    const channel = apiChannel(name);
    if (channel === undefined) return;
    try {
      // A leave this gateway wrote removes nothing when the client moved to another gateway meanwhile.
      const left = await this.stillGone(channel.presence, [...change.left.values()]);
      const joined = [...change.joined.values()];
      if (joined.length === 0 && left.length === 0) return;
      const [occupancy] = await this.engine.presence.occupancy([channel.presence]);
      const frame = JSON.stringify({ type: 'presence_diff', channel: name, joined, left, occupancy });
      await this.engine.commit({ guard: { kind: 'none' }, ops: [], publish: { channel: presenceDiffChannel(name), frame } });
    } catch (err) {
      this.logger.warn({ err, name }, 'presence diff not published');
    }
  }

  private async stillGone(channel: string, left: PresenceMemberFrame[]): Promise<PresenceMemberFrame[]> {
    const present = await Promise.all(
      left.map(async (member) => {
        const page = await this.engine.presence.members(channel, 1, cursorBefore(member.clientId));
        return page.members[0]?.clientId === member.clientId;
      }),
    );
    return left.filter((_, i) => present[i] !== true);
  }
}
