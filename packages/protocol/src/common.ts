import { z } from 'zod';

/** A trimmed, non-empty string of at most `max` characters. */
export const nonEmptyString = (max: number) =>
  z
    .string({ error: 'expected a non-empty string' })
    .trim()
    .min(1, { error: 'expected a non-empty string' })
    .max(max, { error: `expected at most ${max} characters` });

/** A name that is safe inside channel, topic and room names. */
export const tokenString = (max: number) =>
  nonEmptyString(max).regex(/^[A-Za-z0-9_.:-]+$/, {
    error: "expected letters, digits, '_', '-', '.' or ':'",
  });

/** A JSON object with string keys (not an array, not null). */
export const jsonObject = z.record(z.string(), z.unknown(), { error: 'expected an object' });

/**
 * Timestamps accept an ISO-8601 string or unix milliseconds, normalized to unix milliseconds.
 * Dates before 2000 or more than a day ahead are refused: they are almost always unit mix-ups.
 */
export const epochMs = z
  .union([z.string(), z.number()], { error: 'expected an ISO-8601 date or unix milliseconds' })
  .transform((value, ctx) => {
    const ms = epochMsOf(value);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected an ISO-8601 date or unix milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

/** `epochMs`'s rule without the schema (for fast paths): the unix milliseconds, or undefined when refused. */
export function epochMsOf(value: string | number): number | undefined {
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return !Number.isFinite(ms) || ms < Date.UTC(2000, 0, 1) || ms > Date.now() + 86_400_000 ? undefined : Math.round(ms);
}

/** The same timestamps, normalized to an ISO string. */
export const isoTimestamp = epochMs.transform((ms) => new Date(ms).toISOString());

/**
 * One item or a non-empty array of at most `max` items, normalized to a list. Errors keep their
 * path, so the second item's bad level reads `1.level: ...`.
 */
export const oneOrMany = <T extends z.ZodType>(item: T, max: number, [one, many]: [string, string]) =>
  z.unknown().transform((input, ctx) => {
    const isArray = Array.isArray(input);
    const schema = isArray
      ? z
          .array(item)
          .min(1, { error: `expected at least one ${one}` })
          .max(max, { error: `expected at most ${max} ${many}` })
      : item;
    const parsed = schema.safeParse(input);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }
    const items = (isArray ? parsed.data : [parsed.data]) as z.output<T>[];
    return { items, many: isArray };
  });
