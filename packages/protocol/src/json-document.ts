/**
 * Rules every untrusted JSON document (ingest body, stream entry body, client message) obeys
 * before its schema is even looked at, because breaking them fails later, somewhere that cannot
 * answer the producer any more:
 * - every string and key is well-formed Unicode: a lone surrogate survives JSON.stringify only as
 *   a `\ud800` escape, which Redis's cjson (and other strict decoders) refuse;
 * - containers nest at most JSON_MAX_DEPTH levels: JSON.stringify recurses, and a deep enough
 *   document overflows the stack when the event is encoded;
 * - no key is `__proto__`: object spreads and schema copies drop it silently, so the promise that
 *   unknown fields are kept could not hold.
 */

/** Deepest nesting of objects and arrays accepted; the document itself is level 1. */
export const JSON_MAX_DEPTH = 32;

/** Path segments shown when naming a field nested too deep (the rest is what is too deep). */
const DEPTH_PATH_SEGMENTS = 2;

const NOT_WELL_FORMED = 'expected well-formed Unicode (a lone surrogate)';

/** `String.prototype.isWellFormed` (ES2024, Node 20): no lone surrogate anywhere. */
export const isWellFormed = (text: string): boolean => (text as unknown as { isWellFormed(): boolean }).isWellFormed();

const toWellFormed = (text: string): string => (text as unknown as { toWellFormed(): string }).toWellFormed();

const fieldName = (path: readonly (string | number)[]): string =>
  path.length === 0 ? 'body' : path.map((segment) => (typeof segment === 'string' ? toWellFormed(segment) : segment)).join('.');

/**
 * The first rule `value` breaks, as `field: problem` (the same shape as schema errors), or
 * undefined when it keeps them all. Iterative, so the check itself never overflows the stack.
 */
export function checkJsonDocument(value: unknown, maxDepth = JSON_MAX_DEPTH): string | undefined {
  const stack: { value: unknown; path: (string | number)[]; depth: number }[] = [{ value, path: [], depth: 0 }];
  while (stack.length > 0) {
    const { value: current, path, depth } = stack.pop() as (typeof stack)[number];
    if (typeof current === 'string') {
      if (!isWellFormed(current)) return `${fieldName(path)}: ${NOT_WELL_FORMED}`;
      continue;
    }
    if (typeof current !== 'object' || current === null) continue;
    if (depth + 1 > maxDepth) return `${fieldName(path.slice(0, DEPTH_PATH_SEGMENTS))}: nested deeper than ${maxDepth} levels`;
    // Pushed in reverse, so fields are checked in document order and the first bad one is named.
    if (Array.isArray(current)) {
      for (let i = current.length - 1; i >= 0; i--) stack.push({ value: current[i], path: [...path, i], depth: depth + 1 });
      continue;
    }
    const keys = Object.keys(current);
    for (let i = keys.length - 1; i >= 0; i--) {
      const key = keys[i] as string;
      stack.push({ value: (current as Record<string, unknown>)[key], path: [...path, key], depth: depth + 1 });
    }
    for (const key of keys) {
      if (!isWellFormed(key)) return `${fieldName([...path, key])}: ${NOT_WELL_FORMED}`;
      if (key === '__proto__') return `${fieldName([...path, key])}: this key is not allowed`;
    }
  }
  return undefined;
}
