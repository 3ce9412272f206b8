import type { z } from 'zod';
import { validate } from '@switchboard/protocol';

export type AckResult = { ok: true } | { ok: false; error: string };
type Ack = (result: AckResult) => void;

/** The optional acknowledgement callback of a client event, if the client passed one. */
export const ackOf = (args: unknown[]): Ack | undefined => {
  const last = args.at(-1);
  return typeof last === 'function' ? (last as Ack) : undefined;
};

/**
 * A client event handler taking one validated argument and answering the optional ack with
 * `{ok:true}` or `{ok:false,error}`. Wrong argument types never throw.
 */
export function handler<T>(
  schema: z.ZodType<T>,
  field: string,
  run: (value: T) => AckResult | Promise<AckResult>,
  onInvalid: () => void,
): (...args: unknown[]) => void {
  return (...args: unknown[]) => {
    const ack = ackOf(args);
    const parsed = validate(schema, args[0]);
    if (!parsed.ok) {
      onInvalid();
      ack?.({ ok: false, error: `${field}: ${parsed.error.replace(/^body: /, '')}` });
      return;
    }
    Promise.resolve(run(parsed.value)).then(
      (result) => ack?.(result),
      () => ack?.({ ok: false, error: 'temporarily unavailable, retry' }),
    );
  };
}
