import { decodeChannelPayload } from '../channel.js';
import type { ChannelMessage } from '../engine.js';

/**
 * The frames one pub/sub message on a raw channel carries, in offset order; undefined for
 * anything not published by an engine. Two forms:
 *
 * - one frame: `<epoch> <offset> <frame>` (`encodeChannelPayload`);
 * - consecutive frames of one batch commit (one PUBLISH per channel and batch), each without
 *   its offset, which is added here (`frameWithOffset`):
 *   `<epoch> <first offset>;<byte length of each frame, comma-separated> <the frames, back to back>`;
 * - the same, from workers of earlier releases, with each frame's offset in it already:
 *   `<epoch> <first offset>,<byte length of each frame...> <the frames, back to back>`.
 *
 * A gateway older than a form reads its header as an offset that is not a number and drops the
 * message (never forwarding it to clients): gateways are upgraded before workers.
 */
export function decodeChannelMessages(payload: string): ChannelMessage[] | undefined {
  const first = payload.indexOf(' ');
  const second = first > 0 ? payload.indexOf(' ', first + 1) : -1;
  if (second === -1) return undefined;
  const semicolon = payload.indexOf(';', first + 1);
  const bare = semicolon !== -1 && semicolon < second;
  const comma = payload.indexOf(',', first + 1);
  if (!bare && (comma === -1 || comma > second)) {
    const message = decodeChannelPayload(payload);
    return message === undefined ? undefined : [message];
  }
  // One pass over the header and the body, no intermediate arrays: it runs for every message
  // of every channel this gateway follows.
  const offset = Number(payload.slice(first + 1, bare ? semicolon : comma));
  if (!Number.isSafeInteger(offset) || offset < 1) return undefined;
  const epoch = payload.slice(0, first);
  // ASCII (the usual case): bytes and characters are one and the same; otherwise cut the bytes.
  const ascii = Buffer.byteLength(payload, 'utf8') === payload.length;
  const bytes = ascii ? undefined : Buffer.from(payload, 'utf8');
  let at = ascii ? second + 1 : Buffer.byteLength(payload.slice(0, second + 1), 'utf8');
  const messages: ChannelMessage[] = [];
  for (let from = (bare ? semicolon : comma) + 1; from <= second; ) {
    let to = payload.indexOf(',', from);
    if (to === -1 || to > second) to = second;
    const length = Number(payload.slice(from, to));
    if (!Number.isSafeInteger(length) || length < 1) return undefined;
    const end = at + length;
    const frame = bytes === undefined ? payload.slice(at, end) : bytes.toString('utf8', at, end);
    if (end > (bytes === undefined ? payload.length : bytes.length) || frame.charCodeAt(0) !== OPEN_BRACE || frame.charCodeAt(frame.length - 1) !== CLOSE_BRACE) {
      return undefined;
    }
    const n = messages.length;
    messages.push({ epoch, offset: offset + n, frame: bare ? frameWithOffset(frame, offset + n) : frame });
    at = end;
    from = to + 1;
  }
  // The lengths must add up to the body exactly.
  if (at !== (bytes === undefined ? payload.length : bytes.length) || messages.length === 0) return undefined;
  return messages;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/**
 * A frame (a JSON object) as clients get it: with `"offset":N` as its last field. The batch
 * scripts store and publish frames without it (the offset is the history entry's id, and in
 * the message's header), so Redis does no string work per frame.
 */
export function frameWithOffset(frame: string, offset: number): string {
  return frame === '{}' ? `{"offset":${offset}}` : `${frame.slice(0, -1)},"offset":${offset}}`;
}
