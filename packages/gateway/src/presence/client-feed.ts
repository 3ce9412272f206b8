import type { Logger } from 'pino';
import type { Engine, HistoryRequest, PresenceEntry } from '@switchboard/engine';
import { KEY_PREFIX, PRESENCE_DIFF_WINDOW_MS, PRESENCE_LIST_MAX, type PresenceMemberFrame, type PresenceSnapshot } from '@switchboard/protocol';
import { apiChannel } from '../api/channel-names.js';
import type { FeedDeps } from '../feed/channel-feed.js';
import { apiNameOf } from './channels.js';
import { PresenceDiffStream, type DiffSubscriber } from './diff-stream.js';
import { DiffThrottle, type NetChange } from './diff-window.js';

/** The engine channel a channel's presence diffs travel on between gateways (with offsets and history, like any channel). */
export const presenceDiffChannel = (name: string): string => `${KEY_PREFIX}ch:presence:${name}`;

/** The clientId just before `clientId` (exclusive paging cursor), for a membership check; ids are ASCII. */
const cursorBefore = (clientId: string): string =>
  clientId.slice(0, -1) + String.fromCharCode(clientId.charCodeAt(clientId.length - 1) - 1) + '\u007f';

/**
 * Presence for clients that ask (docs/presence.md#for-clients). Outgoing: the joins and leaves this
 * gateway wrote, netted per channel over PRESENCE_DIFF_WINDOW_MS and published on the channel's
 * diff channel (one frame per window per gateway, numbered and kept in history). Incoming: the
 * diff channels of the channels local clients subscribed to, each a PresenceDiffStream (netted
 * again per window, so a subscriber sees at most one live presence frame per channel per window,
 * and resumable by offset).
 */
export class PresenceClientFeed {
  private readonly outgoing: DiffThrottle;
  /** The channels local clients subscribed to, each followed through its diff channel. */
  private readonly streams = new Map<string, PresenceDiffStream>();

  constructor(
    private readonly engine: Engine,
    private readonly feedDeps: FeedDeps,
    private readonly windowMs = PRESENCE_DIFF_WINDOW_MS,
  ) {
    this.outgoing = new DiffThrottle(windowMs, (name, change) => void this.publish(name, change));
  }

  private get logger(): Logger {
    return this.feedDeps.logger;
  }

  stop(): void {
    this.outgoing.stop();
    for (const stream of this.streams.values()) void stream.stop().catch(() => undefined);
    this.streams.clear();
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

  /**
   * A channel's members (the first PRESENCE_LIST_MAX) and occupancy, with the position of its
   * diffs read first (every diff after it is news to the snapshot); undefined for an unknown channel.
   */
  async snapshot(name: string): Promise<PresenceSnapshot | undefined> {
    const channel = apiChannel(name);
    if (channel === undefined) return undefined;
    const position = await this.engine.position(presenceDiffChannel(name));
    const [page, [occupancy]] = await Promise.all([this.engine.presence.members(channel.presence, PRESENCE_LIST_MAX), this.engine.presence.occupancy([channel.presence])]);
    const snapshot: PresenceSnapshot = { type: 'presence', channel: name, members: page.members, occupancy: occupancy ?? { connections: 0, users: 0 } };
    if (page.next !== null) snapshot.truncated = true;
    return { ...snapshot, epoch: position.epoch, offset: position.offset };
  }

  /**
   * Starts handing `subscriber` the channel's diffs, after the missed ones when it resumes (see
   * PresenceDiffStream.attach); returns the stream, for `unsubscribe`.
   */
  async subscribe(name: string, subscriber: DiffSubscriber, resume?: HistoryRequest): Promise<PresenceDiffStream> {
    let stream = this.streams.get(name);
    if (stream === undefined) {
      const read = async (): Promise<PresenceSnapshot> => {
        const snapshot = await this.snapshot(name);
        if (snapshot === undefined) throw new Error(`no presence channel ${name}`);
        return snapshot;
      };
      stream = new PresenceDiffStream(name, presenceDiffChannel(name), this.feedDeps, read, this.windowMs);
      this.streams.set(name, stream);
    }
    try {
      await stream.attach(subscriber, resume);
    } catch (err) {
      this.release(stream);
      throw err;
    }
    return stream;
  }

  unsubscribe(stream: PresenceDiffStream, subscriber: DiffSubscriber): void {
    stream.detach(subscriber);
    this.release(stream);
  }

  /** Stops a stream nothing holds any more. */
  private release(stream: PresenceDiffStream): void {
    if (!stream.unused || this.streams.get(stream.name) !== stream) return;
    this.streams.delete(stream.name);
    stream.stop().catch((err: unknown) => this.logger.warn({ err, name: stream.name }, 'presence diff channel not left'));
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
