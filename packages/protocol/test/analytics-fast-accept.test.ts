import { describe, expect, it } from 'vitest';
import { analyticsIngestSchema } from '../src/analytics.js';
import { validate } from '../src/errors.js';
import { checkJsonDocument, JSON_MAX_DEPTH } from '../src/json-document.js';
import { acceptAnalytics, plainDocumentText } from '../src/analytics-fast-accept.js';

const now = Date.now();
/** Accepted by the schema, deferred by the fast path: it counts openers inside strings too. */
const BRACES_IN_A_STRING = `{"type":"page_view","visitor_id":"v","data":{"text":"${'{'.repeat(40)}"}}`;
/** Bodies around every rule of the analytics schema, as raw JSON text. */
const BODIES: string[] = [
  '{"type":"page_view","visitor_id":"v"}',
  '{"type":"page_view","visitor_id":"v","data":{"path":"/x","n":1}}',
  '{"type":"page_view","visitor_id":"v","data":{"2":"b","1":"a","z":null}}',
  '{"type":"page_view","visitor_id":"v","extra":1,"data":{"extra":2,"other":3},"more":[1,{"a":"b"}]}',
  '{"zzz":1,"type":"page_view","10":"ten","visitor_id":"v","2":"two"}',
  `{"type":"page_view","visitor_id":"v","timestamp":${now}}`,
  `{"type":"page_view","visitor_id":"v","timestamp":${JSON.stringify(new Date(now).toISOString())}}`,
  '{"type":"page_view","visitor_id":"v","timestamp":"2001-02-03T04:05:06Z"}',
  '{"type":"page_view","visitor_id":"v","timestamp":"1999-12-31T23:59:59Z"}',
  `{"type":"page_view","visitor_id":"v","timestamp":${now + 2 * 86_400_000}}`,
  '{"type":"page_view","visitor_id":"v","timestamp":"yesterday"}',
  '{"type":"page_view","visitor_id":"v","timestamp":null}',
  '{"type":"a.b:c-d_e","visitor_id":"v"}',
  `{"type":"${'t'.repeat(64)}","visitor_id":"v"}`,
  `{"type":"${'t'.repeat(65)}","visitor_id":"v"}`,
  '{"type":"page view","visitor_id":"v"}',
  '{"type":" page_view ","visitor_id":"v"}',
  '{"type":"","visitor_id":"v"}',
  '{"type":"Heartbeat","visitor_id":"v"}',
  '{"type":"initial_stats","visitor_id":"v"}',
  '{"type":"pàge","visitor_id":"v"}',
  '{"type":1,"visitor_id":"v"}',
  '{"visitor_id":"v"}',
  '{"type":"page_view"}',
  '{"type":"page_view","visitor_id":""}',
  '{"type":"page_view","visitor_id":"   "}',
  '{"type":"page_view","visitor_id":" v "}',
  '{"type":"page_view","visitor_id":"v\\u00a0"}',
  `{"type":"page_view","visitor_id":"${'v'.repeat(128)}"}`,
  `{"type":"page_view","visitor_id":"${'v'.repeat(129)}"}`,
  '{"type":"page_view","visitor_id":"v é ü 日本"}',
  '{"type":"page_view","visitor_id":42}',
  '{"type":"page_view","visitor_id":"v","data":[]}',
  '{"type":"page_view","visitor_id":"v","data":null}',
  '{"type":"page_view","visitor_id":"v","data":"x"}',
  '{"type":"page_view","visitor_id":"v","data":{"s":"\\ud800"}}',
  '{"type":"page_view","visitor_id":"v","data":{"__proto__":{"polluted":true}}}',
  '{"type":"page_view","visitor_id":"v","data":{"\\u005f_proto__":1}}',
  `{"type":"page_view","visitor_id":"v","data":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`,
  BRACES_IN_A_STRING,
  '[]',
  'null',
  '"text"',
  '42',
];

describe('acceptAnalytics', () => {
  it('accepts only what the schema accepts, and returns exactly what the schema returns', () => {
    const deferred: string[] = [];
    for (const text of BODIES) {
      const input: unknown = JSON.parse(text);
      const viaSchema = validate(analyticsIngestSchema, input);
      const viaFast = plainDocumentText(text) ? acceptAnalytics(input) : undefined;
      if (viaFast === undefined) {
        if (viaSchema.ok) deferred.push(text);
        continue;
      }
      expect(viaSchema, text).toEqual({ ok: true, value: viaFast });
      // Stored as JSON: the same bytes, key order included.
      expect(JSON.stringify(viaFast), text).toBe(JSON.stringify(viaSchema.ok ? viaSchema.value : undefined));
    }
    // The fast path takes every accepted body but those needing a closer look (not a check that
    // passes by never accepting).
    expect(deferred).toEqual(['{"type":" page_view ","visitor_id":"v"}', '{"type":"page_view","visitor_id":" v "}', '{"type":"page_view","visitor_id":"v\\u00a0"}', BRACES_IN_A_STRING]);
  });

  it('leaves every refused body to the schema, which words the error', () => {
    for (const text of BODIES) {
      const input: unknown = JSON.parse(text);
      if (!validate(analyticsIngestSchema, input).ok) expect(plainDocumentText(text) ? acceptAnalytics(input) : undefined, text).toBeUndefined();
    }
  });
});

describe('plainDocumentText', () => {
  it('is true only for text whose document keeps every document rule', () => {
    for (const text of BODIES) if (plainDocumentText(text)) expect(checkJsonDocument(JSON.parse(text)), text).toBeUndefined();
    expect(plainDocumentText('{"a":{"b":[1,2]}}')).toBe(true);
  });

  it('defers on escapes, __proto__ and more openers than the depth limit', () => {
    expect(plainDocumentText('{"s":"\\ud800"}')).toBe(false);
    expect(plainDocumentText('{"\\u005f_proto__":1}')).toBe(false);
    expect(plainDocumentText('{"__proto__":1}')).toBe(false);
    // A lone surrogate in the text itself (a stream entry of the in-process engine), not escaped.
    expect(plainDocumentText('{"s":"\ud800"}'.replace('\\ud800', '\ud800'))).toBe(false);
    expect(plainDocumentText('{"s":"😀"}')).toBe(true);
    expect(plainDocumentText(`${'['.repeat(JSON_MAX_DEPTH)}${']'.repeat(JSON_MAX_DEPTH)}`)).toBe(true);
    expect(plainDocumentText(`${'['.repeat(JSON_MAX_DEPTH + 1)}${']'.repeat(JSON_MAX_DEPTH + 1)}`)).toBe(false);
    // Openers inside strings count too: deferring is always safe.
    expect(plainDocumentText(`{"s":"${'{'.repeat(JSON_MAX_DEPTH + 1)}"}`)).toBe(false);
  });
});
