import { z } from 'zod';

/**
 * Presence for clients, opt-in (docs/presence.md#for-clients): a client that never sends these
 * messages receives no presence frame.
 */

/** One connection on a channel, as clients see it. */
export interface PresenceMemberFrame {
  clientId: string;
  userId: string | null;
  info: Record<string, unknown>;
}

/** How many are on a channel: connections, and distinct users. */
export interface OccupancyFrame {
  connections: number;
  users: number;
}

/** The answer to `{"type":"presence"}` (Socket.IO: the `presence:get` ack). */
export interface PresenceSnapshot {
  type: 'presence';
  channel: string;
  members: PresenceMemberFrame[];
  occupancy: OccupancyFrame;
  /** Present (true) when the channel holds more members than the list. */
  truncated?: true;
  /**
   * The position of the channel's diffs this snapshot stands at: the diffs after it (offsets
   * above `offset` in `epoch`) are news to it. A subscription resumes from here.
   */
  epoch?: string;
  offset?: number;
}

/** The net change of a channel's members over one window (Socket.IO: the `presence:diff` event). */
export interface PresenceDiff {
  type: 'presence_diff';
  channel: string;
  joined: PresenceMemberFrame[];
  left: PresenceMemberFrame[];
  occupancy: OccupancyFrame;
  /** The epoch and offset of the channel's diffs, the last one this frame includes: a subscription resumes from here. */
  epoch?: string;
  offset?: number;
}

/**
 * The answer to a resuming `presence_subscribe` (`epoch` and `since`; Socket.IO: the
 * `presence:subscribe` ack, with `ok: true`). Recovered: the `count` diffs missed since `since`
 * follow, one per frame of the channel's diffs, in offset order, then live diffs; `offset` is
 * the position once they have arrived. Not recovered (another epoch, or the history no longer
 * holds every missed diff): `snapshot` is the channel now, at position `offset`; the diffs
 * after it follow.
 */
export type PresenceResumed =
  | { type: 'presence_resumed'; channel: string; recovered: true; epoch: string; count: number; offset: number }
  | { type: 'presence_resumed'; channel: string; recovered: false; epoch: string; offset: number; snapshot: PresenceSnapshot };

/** At most this many members in a presence answer (the server API pages the rest). */
export const PRESENCE_LIST_MAX = 100;
/** A subscriber gets at most one presence frame per channel per this many ms. */
export const PRESENCE_DIFF_WINDOW_MS = 250;

/** A presence subscription's position to resume from: both fields or neither (checked by the gateway). */
const presencePositionFields = {
  epoch: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, { error: 'epoch: expected the epoch a presence frame carried' }).optional(),
  since: z.number().int().nonnegative({ error: 'since: expected the offset of the last presence frame received' }).optional(),
};

/** The presence messages a raw client may send, on any raw endpoint (on `/ws/logs` after `auth`). */
export const presenceClientMessageSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('presence') }),
    z.object({ type: z.literal('presence_subscribe'), ...presencePositionFields }),
    z.object({ type: z.literal('presence_unsubscribe') }),
  ],
  { error: 'unknown message type (expected presence, presence_subscribe or presence_unsubscribe)' },
);
export type PresenceClientMessage = z.output<typeof presenceClientMessageSchema>;

const PRESENCE_TYPES: ReadonlySet<unknown> = new Set(['presence', 'presence_subscribe', 'presence_unsubscribe']);

/** Whether a parsed client frame is a presence message (checked before the endpoint's own schema). */
export const isPresenceMessage = (json: unknown): boolean =>
  typeof json === 'object' && json !== null && PRESENCE_TYPES.has((json as Record<string, unknown>)['type']);

/** Socket.IO events of presence: `presence:get` (ack), `presence:subscribe`, `presence:unsubscribe`, `presence:diff`. */
export const PRESENCE_EVENTS = {
  get: 'presence:get',
  subscribe: 'presence:subscribe',
  unsubscribe: 'presence:unsubscribe',
  diff: 'presence:diff',
} as const;
