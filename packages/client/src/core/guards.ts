// Small structural checks for server frames. Hand-written rather than the protocol's zod
// schemas so that a browser bundle of the SDK does not carry zod.

export type JsonObject = Record<string, unknown>;

export const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);
export const isString = (value: unknown): value is string => typeof value === 'string';
export const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
export const isStringOrNull = (value: unknown): value is string | null => value === null || typeof value === 'string';

/** Whether every listed field of `value` is a finite number. */
export const hasNumbers = (value: unknown, fields: readonly string[]): value is JsonObject =>
  isObject(value) && fields.every((field) => isNumber(value[field]));

/** The frame's `offset` (an extra field on published frames), if it is a valid one. */
export const offsetOf = (frame: JsonObject, field = 'offset'): number | undefined => {
  const offset = frame[field];
  return Number.isSafeInteger(offset) && (offset as number) >= 0 ? (offset as number) : undefined;
};

/** A bounded excerpt of a bad frame for error messages. */
export const excerpt = (text: string, max = 200): string => (text.length > max ? `${text.slice(0, max)}…` : text);

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Parses a text frame into a JSON object with a string `type`; never throws. */
export function parseTypedFrame(data: unknown): Parsed<JsonObject & { type: string }> {
  if (typeof data !== 'string') return { ok: false, error: 'binary frame (expected JSON text)' };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return { ok: false, error: 'invalid JSON' };
  }
  if (!isObject(value)) return { ok: false, error: 'frame is not a JSON object' };
  if (!isString(value['type'])) return { ok: false, error: 'frame has no string "type"' };
  return { ok: true, value: value as JsonObject & { type: string } };
}
