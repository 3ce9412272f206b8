import type { z } from 'zod';
import { RESERVED_EVENT_TYPES, type AnalyticsIngest } from './analytics.js';
import { epochMsOf } from './common.js';
import { parseJson, validate, type Validated } from './errors.js';
import { isWellFormed, JSON_MAX_DEPTH } from './json-document.js';

/**
 * Hand-checked fast paths for the common, well-formed analytics body, used by the gateway (on
 * `POST /events`) and the worker (on each stream entry, which a direct producer may have
 * crafted; its envelope has a fast path of its own, `acceptEnvelope`). They only ever accept:
 * whatever they are unsure of goes to the schema (and `checkJsonDocument`), which decides and
 * words every error, so the rules and messages stay the schema's. What they accept, they return
 * exactly as the schema would (test/unit: compared on a corpus of bodies).
 */

const BACKSLASH_U = /\\u/;
const OPENERS = /[[{]/g;

/**
 * Whether raw JSON text cannot break a document rule (checkJsonDocument): a lone surrogate can
 * only come from a `\u` escape or from the text itself (text decoded from UTF-8 has none: invalid
 * bytes are replaced; a stream entry of the in-process engine may), a `__proto__` key only from
 * its spelling (there are no escapes), and nesting deeper than JSON_MAX_DEPTH needs more
 * `{`/`[` than that (counted anywhere, strings included).
 */
export function plainDocumentText(text: string): boolean {
  if (BACKSLASH_U.test(text) || text.includes('__proto__') || !isWellFormed(text)) return false;
  OPENERS.lastIndex = 0;
  let openers = 0;
  while (OPENERS.exec(text) !== null) if (++openers > JSON_MAX_DEPTH) return false;
  return true;
}

/**
 * JSON text parsed once and checked: by `accept` (a fast path such as `acceptAnalytics`) when the
 * text keeps the document rules by itself and `accept` vouches for the value, else by the schema
 * (`validate`), which decides and words every error.
 */
export function parseAccepted<T>(text: string, schema: z.ZodType<T>, accept?: (input: unknown) => T | undefined): Validated<T> {
  const json = parseJson(text);
  if (!json.ok) return { ok: false, error: `body: ${json.error}` };
  const fast = accept !== undefined && plainDocumentText(text) ? accept(json.value) : undefined;
  return fast !== undefined ? { ok: true, value: fast } : validate(schema, json.value);
}

const TOKEN = /^[A-Za-z0-9_.:-]{1,64}$/;
const RESERVED = new Set<string>(RESERVED_EVENT_TYPES);
const KNOWN_FIELDS = new Set(['type', 'visitor_id', 'data', 'timestamp']);

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `analyticsIngestSchema` for bodies it certainly accepts; undefined: ask the schema. */
export function acceptAnalytics(input: unknown): AnalyticsIngest | undefined {
  if (!isPlainObject(input)) return undefined;
  const { type, visitor_id: visitorId, data, timestamp } = input;
  // A token has no whitespace, so the schema's trim changes nothing.
  if (typeof type !== 'string' || !TOKEN.test(type) || RESERVED.has(type.toLowerCase())) return undefined;
  if (typeof visitorId !== 'string' || visitorId.length === 0 || visitorId.length > 128 || visitorId.trim() !== visitorId) return undefined;
  if (data !== undefined && !isPlainObject(data)) return undefined;
  let iso: string | undefined;
  if (timestamp !== undefined) {
    // `isoTimestamp`'s rule, without the schema's cost.
    const ms = typeof timestamp === 'string' || typeof timestamp === 'number' ? epochMsOf(timestamp) : undefined;
    if (ms === undefined) return undefined;
    iso = new Date(ms).toISOString();
  }
  let extras: Record<string, unknown> | undefined;
  for (const key in input) {
    if (KNOWN_FIELDS.has(key)) continue;
    extras ??= {};
    extras[key] = input[key];
  }
  return { type, visitor_id: visitorId, timestamp: iso, data: { ...extras, ...data } };
}
