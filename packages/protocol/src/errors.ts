import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import type { z } from 'zod';

/**
 * One line naming the first offending field and what is wrong with it, e.g.
 * `visitor_id: expected a non-empty string`. Used for HTTP 400 bodies and WebSocket errors.
 */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid value';
  const field = issue.path.length > 0 ? issue.path.join('.') : 'body';
  return `${field}: ${issue.message}`;
}

/** Result of validating untrusted input: never throws. */
export type Validated<T> = { ok: true; value: T } | { ok: false; error: string };

export function validate<T>(schema: z.ZodType<T>, input: unknown): Validated<T> {
  const parsed = schema.safeParse(input);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: describeIssue(parsed.error) };
}

/**
 * JSON.parse that reports instead of throwing, and refuses nesting deeper than MAX_JSON_DEPTH
 * before parsing (what follows parsing — validation, serialization — is recursive).
 */
export function parseJson(text: string): Validated<unknown> {
  if (nestsDeeperThan(text)) return { ok: false, error: `nested deeper than ${MAX_JSON_DEPTH} levels (the maximum JSON nesting depth)` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: 'invalid JSON' };
  }
}
