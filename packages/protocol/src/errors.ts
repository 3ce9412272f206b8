import type { z } from 'zod';
import { checkJsonDocument } from './json-document.js';

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

/**
 * Checks untrusted input: first the rules of every JSON document (well-formed Unicode, bounded
 * nesting), then the schema. Whatever passes can be encoded and committed without failing later.
 */
export function validate<T>(schema: z.ZodType<T>, input: unknown): Validated<T> {
  const broken = checkJsonDocument(input);
  if (broken !== undefined) return { ok: false, error: broken };
  const parsed = schema.safeParse(input);
  return parsed.success ? { ok: true, value: parsed.data } : { ok: false, error: describeIssue(parsed.error) };
}

/**
 * JSON.parse that reports instead of throwing. V8's parser is iterative, so any nesting parses;
 * what follows parsing (serialization) is recursive, which is why `validate` bounds the depth
 * before anything else touches the value.
 */
export function parseJson(text: string): Validated<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: 'invalid JSON' };
  }
}
