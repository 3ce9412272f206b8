import { SOCKET_IO_EVENT_PACKET, SOCKET_IO_MAX_PARTS, SOCKET_IO_MESSAGE } from '@switchboard/protocol';

/**
 * One plain broadcast of a Socket.IO channel frame, read without parsing its packet: the text of
 * the packet's `data` array (`["event",…]`) as the frame carries it, without its closing bracket
 * (the recovery offset goes there).
 */
export interface TextBroadcast {
  rooms: string[];
  openDataText: string;
}

/**
 * The broadcasts of a channel frame when every one of them is plain: an event packet (no ack id,
 * no attachments) to one room at most or to everyone, no exception, no flags. Frames are written
 * by JSON.stringify (the worker's emitter, the gateways' adapter), so a broadcast's packet is
 * forwarded as that text instead of being parsed and encoded again; anything else, or a frame not
 * exactly in that form, is undefined and takes the full parse (which validates it).
 */
export function readPlainBroadcasts(frame: string, nsp: string): TextBroadcast[] | undefined {
  const envelope = objectFields(frame, 0, frame.length);
  // The engine appends the frame's `offset` to it (ignored here, as by the full parse).
  if (envelope === undefined || envelope.size !== (envelope.has('offset') ? 5 : 4)) return undefined;
  const uid = envelope.get('uid');
  const name = envelope.get('nsp');
  const type = envelope.get('type');
  const data = envelope.get('data');
  if (uid === undefined || name === undefined || type === undefined || data === undefined) return undefined;
  if (frame.charCodeAt(uid[0]) !== QUOTE || frame.slice(name[0], name[1]) !== JSON.stringify(nsp)) return undefined;
  const kind = frame.slice(type[0], type[1]);
  if (kind === String(SOCKET_IO_MESSAGE.broadcast)) {
    const part = readPart(frame, data[0], data[1]);
    return part === undefined ? undefined : [part];
  }
  const shared = kind === String(SOCKET_IO_MESSAGE.sharedBroadcasts);
  if (!shared && kind !== String(SOCKET_IO_MESSAGE.broadcasts)) return undefined;
  const body = objectFields(frame, data[0], data[1]);
  const args = shared ? body?.get('args') : undefined;
  if (body?.size !== (shared ? 2 : 1) || (shared && (args === undefined || frame.charCodeAt(args[0]) !== OPEN_BRACKET))) return undefined;
  const list = body.get('parts');
  const items = list === undefined ? undefined : arrayItems(frame, list[0], list[1]);
  if (items === undefined || items.length === 0 || items.length > SOCKET_IO_MAX_PARTS) return undefined;
  // Shared arguments: `,a,b` after each part's event name (nothing when there are none).
  const argsText = args === undefined || args[1] - args[0] === 2 ? '' : `,${frame.slice(args[0] + 1, args[1] - 1)}`;
  const parts: TextBroadcast[] = [];
  for (const [start, end] of items) {
    const part = shared ? readSharedPart(frame, start, end, argsText) : readPart(frame, start, end);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  return parts;
}

/**
 * The text Socket.IO writes for an event packet on a uWS topic (engine.io `4`, socket.io `2`,
 * the namespace unless the main one), with the recovery offset appended to its arguments as
 * socket.io-adapter appends it.
 */
export function eventFrameText(nsp: string, openDataText: string, offset: string): string {
  return `4${SOCKET_IO_EVENT_PACKET}${nsp === '/' ? '' : `${nsp},`}${openDataText},${JSON.stringify(offset)}]`;
}

/** A part of a shared-arguments frame: `{"event":…,"opts":…}`, its packet the event and `argsText`. */
function readSharedPart(text: string, start: number, end: number, argsText: string): TextBroadcast | undefined {
  const part = objectFields(text, start, end);
  const event = part?.size === 2 ? part.get('event') : undefined;
  const opts = event === undefined ? undefined : part?.get('opts');
  if (event === undefined || opts === undefined || text.charCodeAt(event[0]) !== QUOTE) return undefined;
  const rooms = plainTarget(text, opts[0], opts[1]);
  return rooms === undefined ? undefined : { rooms, openDataText: `[${text.slice(event[0], event[1])}${argsText}` };
}

function readPart(text: string, start: number, end: number): TextBroadcast | undefined {
  const part = objectFields(text, start, end);
  const opts = part?.size === 2 ? part.get('opts') : undefined;
  const packet = opts === undefined ? undefined : part?.get('packet');
  if (opts === undefined || packet === undefined) return undefined;
  const rooms = plainTarget(text, opts[0], opts[1]);
  const fields = rooms === undefined ? undefined : objectFields(text, packet[0], packet[1]);
  if (rooms === undefined || fields === undefined) return undefined;
  const type = fields.get('type');
  const data = fields.get('data');
  const packetNsp = fields.get('nsp');
  if (fields.size !== (packetNsp === undefined ? 2 : 3) || type === undefined || data === undefined) return undefined;
  if (text.slice(type[0], type[1]) !== String(SOCKET_IO_EVENT_PACKET)) return undefined;
  if (packetNsp !== undefined && text.charCodeAt(packetNsp[0]) !== QUOTE) return undefined;
  // An event packet's arguments start with its name: never an empty array.
  if (text.charCodeAt(data[0]) !== OPEN_BRACKET || data[1] - data[0] < 3) return undefined;
  return { rooms, openDataText: text.slice(data[0], data[1] - 1) };
}

/** The target the emitters write for everyone (`TO_ONE_ROOM` around a room's name for one room). */
const TO_EVERYONE = '{"rooms":[],"except":[],"flags":{}}';
const TO_ONE_ROOM = ['{"rooms":[', '],"except":[],"flags":{}}'] as const;

/**
 * The rooms of `{"rooms":[…],"except":[],"flags":{}}` at [start, end) (except and flags may be
 * left out), if plain. The emitters' own forms are matched as text, anything else parsed.
 */
function plainTarget(frame: string, start: number, end: number): string[] | undefined {
  if (end - start === TO_EVERYONE.length && frame.startsWith(TO_EVERYONE, start)) return [];
  const [before, after] = TO_ONE_ROOM;
  const nameStart = start + before.length;
  const nameEnd = end - after.length;
  if (nameEnd > nameStart && frame.startsWith(before, start) && frame.startsWith(after, nameEnd) && frame.charCodeAt(nameStart) === QUOTE) {
    // A name without quotes or escapes is its own text; any other is left to the parse below.
    if (frame.charCodeAt(nameEnd - 1) === QUOTE && plainText(frame, nameStart + 1, nameEnd - 1)) return [frame.slice(nameStart + 1, nameEnd - 1)];
  }
  const text = frame.slice(start, end);
  let opts: unknown;
  try {
    opts = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof opts !== 'object' || opts === null) return undefined;
  const { rooms, except = [], flags = {}, ...rest } = opts as Record<string, unknown>;
  if (Object.keys(rest).length > 0 || !Array.isArray(rooms) || rooms.length > 1 || !rooms.every((r) => typeof r === 'string')) return undefined;
  if (!Array.isArray(except) || except.length > 0 || typeof flags !== 'object' || flags === null || Object.keys(flags).length > 0) return undefined;
  return rooms;
}

/** Whether [start, end) holds no quote and no backslash. */
function plainText(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE || c === BACKSLASH) return false;
  }
  return true;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** Index just past the string whose opening quote is at `i`, or -1. */
function stringEnd(text: string, i: number): number {
  let j = i;
  for (;;) {
    j = text.indexOf('"', j + 1);
    if (j < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(j - 1 - backslashes) === BACKSLASH) backslashes += 1;
    if ((backslashes & 1) === 0) return j + 1;
  }
}

/**
 * Index just past the JSON value that starts at `i` (JSON.stringify's form: no whitespace), or
 * -1. Containers are matched bracket for bracket; scalars run to the next separator.
 */
function valueEnd(text: string, i: number, limit: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return stringEnd(text, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    let j = i;
    while (j < limit) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === QUOTE || c === OPEN_BRACE || c === OPEN_BRACKET) break;
      j += 1;
    }
    return j > i ? j : -1;
  }
  const open: number[] = [];
  for (let j = i; j < limit; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      const end = stringEnd(text, j);
      if (end < 0) return -1;
      j = end - 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) open.push(c);
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (open.pop() !== (c === CLOSE_BRACE ? OPEN_BRACE : OPEN_BRACKET)) return -1;
      if (open.length === 0) return j + 1;
    }
  }
  return -1;
}

/** The fields of the object at [start, end): each key's value as [start, end); undefined if it is not one. */
function objectFields(text: string, start: number, end: number): Map<string, [number, number]> | undefined {
  if (text.charCodeAt(start) !== OPEN_BRACE || text.charCodeAt(end - 1) !== CLOSE_BRACE) return undefined;
  const fields = new Map<string, [number, number]>();
  let i = start + 1;
  if (i === end - 1) return fields;
  for (;;) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0 || text.charCodeAt(keyEnd) !== COLON) return undefined;
    const key = text.slice(i + 1, keyEnd - 1);
    // An escaped key, or one given twice, is for the full parse to judge.
    if (key.includes('\\') || fields.has(key)) return undefined;
    const valueStart = keyEnd + 1;
    const valueStop = valueEnd(text, valueStart, end - 1);
    if (valueStop < 0) return undefined;
    fields.set(key, [valueStart, valueStop]);
    if (valueStop === end - 1) return fields;
    if (text.charCodeAt(valueStop) !== COMMA) return undefined;
    i = valueStop + 1;
  }
}

/** The items of the array at [start, end), each as [start, end); undefined if it is not one. */
function arrayItems(text: string, start: number, end: number): [number, number][] | undefined {
  if (text.charCodeAt(start) !== OPEN_BRACKET || text.charCodeAt(end - 1) !== CLOSE_BRACKET) return undefined;
  const items: [number, number][] = [];
  let i = start + 1;
  if (i === end - 1) return items;
  for (;;) {
    const stop = valueEnd(text, i, end - 1);
    if (stop < 0) return undefined;
    items.push([i, stop]);
    if (stop === end - 1) return items;
    if (text.charCodeAt(stop) !== COMMA) return undefined;
    i = stop + 1;
  }
}
