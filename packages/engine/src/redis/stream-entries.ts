/** A stream entry as Redis answers it (XREADGROUP, XCLAIM, XRANGE): fields null once trimmed away. */
export type RawEntry = [id: string, fields: string[] | null];

/** A flat field/value list as a record. */
export const toFields = (flat: string[]): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
};

/** A record as the flat field/value list XADD takes (a loop: `Object.entries().flat()` showed in ingest profiles). */
export const flatFields = (fields: Record<string, string>): string[] => {
  const flat: string[] = [];
  for (const key in fields) flat.push(key, fields[key] as string);
  return flat;
};
