import { randomBytes } from 'node:crypto';
import type { ChannelMessage, ChannelPosition, HistoryRequest, HistoryResult } from './engine.js';

/**
 * Epochs: a random prefix per source (one per engine instance) and a counter, so two epochs
 * never collide, across processes and restarts, while staying short (about 12 characters).
 */
export function createEpochSource(): () => string {
  const prefix = randomBytes(6).toString('base64url');
  let counter = 0;
  return () => `${prefix}${(counter++).toString(36)}`;
}

/**
 * Pub/sub payload of a raw channel: `<epoch> <offset> <frame>`. The header tells subscribers
 * the frame's epoch and offset without parsing it; subscribers strip it before handing the
 * frame (which still carries `"offset":N`) on. Epochs never contain a space.
 */
export const encodeChannelPayload = ({ epoch, offset, frame }: ChannelMessage): string => `${epoch} ${offset} ${frame}`;

/** The message a channel payload carries; undefined for anything not published by an engine. */
export function decodeChannelPayload(payload: string): ChannelMessage | undefined {
  const first = payload.indexOf(' ');
  const second = first > 0 ? payload.indexOf(' ', first + 1) : -1;
  if (second === -1) return undefined;
  const offset = Number(payload.slice(first + 1, second));
  const frame = payload.slice(second + 1);
  if (!Number.isSafeInteger(offset) || offset < 1 || !frame.startsWith('{')) return undefined;
  return { epoch: payload.slice(0, first), offset, frame };
}

/** Whether `since` can name a position on a channel: a whole number, 0 (nothing yet) or more. */
export const isValidSince = (since: number): boolean => Number.isSafeInteger(since) && since >= 0;

/**
 * Whether a history request reads the channel's epoch from its start: its epoch is another
 * one, and it asked for the new epoch in full (`acrossEpochs`).
 */
export const readsFromEpochStart = (request: HistoryRequest, epoch: string): boolean =>
  request.epoch !== epoch && request.acrossEpochs === true && isValidSince(request.since);

/**
 * The answer to a history request, from the channel's position and the frames it holds after
 * `request.since` (after 0 when it reads the epoch from its start: `readsFromEpochStart`),
 * oldest first, possibly cut short by the history bound. Recovered only when the epoch matches
 * (or it reads from the start) and those frames are exactly `since + 1 ... position.offset`.
 */
export function historyResult(position: ChannelPosition, request: HistoryRequest, after: ChannelMessage[]): HistoryResult {
  const { epoch, offset } = position;
  const fromStart = readsFromEpochStart(request, epoch);
  const since = fromStart ? 0 : request.since;
  const complete =
    (fromStart || request.epoch === epoch) &&
    isValidSince(since) &&
    since <= offset &&
    after.length === offset - since &&
    (after.length === 0 || after[0]?.offset === since + 1);
  if (!complete) return { recovered: false, epoch, offset };
  return fromStart ? { recovered: true, epoch, offset, messages: after, epochChanged: true } : { recovered: true, epoch, offset, messages: after };
}
