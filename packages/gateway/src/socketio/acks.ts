import type { Socket } from 'socket.io';
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
 * `{ok:true}` or `{ok:false,error}`. Wrong argument types never throw. Made once per gateway and
 * shared by every socket: Socket.IO calls it with the socket as `this`, so an idle connection
 * holds no closure of its own for each event.
 */
export function handler<T>(
  schema: z.ZodType<T>,
  field: string,
  run: (socket: Socket, value: T) => AckResult | Promise<AckResult>,
  onInvalid: () => void,
): (this: Socket, ...args: unknown[]) => void {
  return function (this: Socket, ...args: unknown[]) {
    const ack = ackOf(args);
    const parsed = validate(schema, args[0]);
    if (!parsed.ok) {
      onInvalid();
      ack?.({ ok: false, error: `${field}: ${parsed.error.replace(/^body: /, '')}` });
      return;
    }
    Promise.resolve(run(this, parsed.value)).then(
      (result) => ack?.(result),
      () => ack?.({ ok: false, error: 'temporarily unavailable, retry' }),
    );
  };
}
