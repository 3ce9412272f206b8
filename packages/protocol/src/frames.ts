/**
 * Where a channel stands, or where a client stopped reading it: its epoch (a short string that
 * changes whenever the channel's offsets start over) and an offset in that epoch (0 when nothing
 * was published in it). The one shape for a position, used by the engine, the gateways and the SDK.
 */
export interface ChannelPosition {
  epoch: string;
  offset: number;
}

/** A value `appendFields` can add to a frame: anything JSON writes as a scalar. */
export type FrameField = string | number | boolean | null;

/**
 * Appends fields to a JSON object frame as its last fields, without re-serializing the frame
 * (trailing whitespace is dropped; `{}` takes them as its only fields). The one way a frame gets
 * fields added after it was built: offsets on publish, a channel position on a first frame.
 */
export function appendFields(frame: string, fields: Readonly<Record<string, FrameField>>): string {
  const trimmed = frame.trimEnd();
  if (!trimmed.startsWith('{') || !trimmed.endsWith('}')) throw new TypeError('frame must be a JSON object');
  let added = '';
  for (const name in fields) added += `${added === '' ? '' : ','}${JSON.stringify(name)}:${JSON.stringify(fields[name])}`;
  if (added === '') return trimmed;
  return /^\{\s*\}$/.test(trimmed) ? `{${added}}` : `${trimmed.slice(0, -1)},${added}}`;
}

/**
 * Every frame published on a raw channel carries an `offset` that increases per channel
 * (docs/architecture.md), appended as the last field so the publisher never re-serializes it.
 */
export const withOffset = (frame: string, offset: number): string => appendFields(frame, { offset });

export interface FrameHead {
  type: string;
  id: string | undefined;
}

// An `id` that is not a plain UUID falls through to JSON.parse (the negative lookahead).
const HEAD = /^\{"type":"([^"\\]*)"(?:,"id":"([0-9a-fA-F-]{36})")?(?!,"id":)/;

/**
 * Whether the rest of a frame could hold another top-level `type` or `id`: JSON.parse keeps the
 * last of duplicate keys, and a key may be spelled with escapes (`"t\u0079pe"`). Without any of
 * these, the head read is what every client's parser sees.
 */
const REPEATED_HEAD = /"(?:type|id)"|\\u/g;
const mayRepeatHead = (frame: string, from: number): boolean => {
  // One scan (a third of the time of three `includes`: it runs once per fanned-out frame).
  REPEATED_HEAD.lastIndex = from;
  return REPEATED_HEAD.test(frame);
};

/**
 * Reads `type` (and `id`) from a published frame without parsing the whole frame: frames built
 * by Switchboard start with them. Falls back to JSON.parse for frames other producers built and
 * for any frame whose rest could repeat those keys: for a frame that is valid JSON, the answer is
 * always what a client parsing it sees.
 */
export function readFrameHead(frame: string): FrameHead | undefined {
  const match = HEAD.exec(frame);
  if (match && !mayRepeatHead(frame, match[0].length)) return { type: match[1] as string, id: match[2] };
  try {
    const parsed = JSON.parse(frame) as { type?: unknown; id?: unknown };
    if (typeof parsed.type !== 'string') return undefined;
    return { type: parsed.type, id: typeof parsed.id === 'string' ? parsed.id : undefined };
  } catch {
    return undefined;
  }
}

/** The `offset` a publisher appended (the frame's last field), or undefined. */
export function readFrameOffset(frame: string): number | undefined {
  const match = /,?"offset":(\d+)\}\s*$/.exec(frame);
  return match ? Number(match[1]) : undefined;
}
