/** A stream entry as Redis answers it (XREADGROUP, XCLAIM, XRANGE): fields null once trimmed away. */
export type RawEntry = [id: string, fields: string[] | null];

/** A flat field/value list as a record. */
export const toFields = (flat: string[]): Record<string, string> => {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i] as string] = flat[i + 1] as string;
  return fields;
};

/** A record as the flat field/value list XADD takes. */
export const flatFields = (fields: Record<string, string>): string[] => Object.entries(fields).flat();
