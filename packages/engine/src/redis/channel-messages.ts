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
  const header = bare
    ? [payload.slice(first + 1, semicolon), ...payload.slice(semicolon + 1, second).split(',')].map(Number)
    : payload.slice(first + 1, second).split(',').map(Number);
  const [offset = 0, ...lengths] = header;
  if (!Number.isSafeInteger(offset) || offset < 1 || !header.every((n) => Number.isSafeInteger(n) && n > 0)) return undefined;
  const epoch = payload.slice(0, first);
  const body = payload.slice(second + 1);
  const frames = splitByBytes(body, lengths);
  if (frames === undefined || !frames.every((frame) => frame.startsWith('{') && frame.endsWith('}'))) return undefined;
  return frames.map((frame, n) => ({ epoch, offset: offset + n, frame: bare ? frameWithOffset(frame, offset + n) : frame }));
}

/**
 * A frame (a JSON object) as clients get it: with `"offset":N` as its last field. The batch
 * scripts store and publish frames without it (the offset is the history entry's id, and in
 * the message's header), so Redis does no string work per frame.
 */
export function frameWithOffset(frame: string, offset: number): string {
  return frame === '{}' ? `{"offset":${offset}}` : `${frame.slice(0, -1)},"offset":${offset}}`;
}

/** `text` cut into pieces of the given UTF-8 byte lengths; undefined unless they add up exactly. */
function splitByBytes(text: string, lengths: number[]): string[] | undefined {
  const total = lengths.reduce((a, b) => a + b, 0);
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes !== total) return undefined;
  const pieces: string[] = [];
  let at = 0;
  if (bytes === text.length) {
    // ASCII (the usual case): bytes and characters are one and the same.
    for (const length of lengths) pieces.push(text.slice(at, (at += length)));
    return pieces;
  }
  const buffer = Buffer.from(text, 'utf8');
  for (const length of lengths) pieces.push(buffer.toString('utf8', at, (at += length)));
  return pieces;
}
