/** Messages between the harness (parent) and its load-generator child processes (IPC). */

export type ClientKind = 'ws' | 'sio';

/** How clients count: `count` records a latency sample every 16th message, `latency` every one. */
export type MeasureMode = 'count' | 'latency';

export type ToLoader =
  /** `deflate`: WebSocket clients offer permessage-deflate, as browsers do. */
  | { op: 'connect'; kind: ClientKind; urls: string[]; count: number; concurrency: number; deflate: boolean }
  | { op: 'close'; count: number }
  /** Every Socket.IO client emits `event` with `${prefix}${i % rooms}` and waits for `{ok:true}`. */
  | { op: 'join'; event: string; prefix: string; rooms: number; concurrency: number }
  /**
   * Resets the counters; `event` (Socket.IO) is the one that counts, `roomEvent` is counted
   * apart. Messages sent before `since` (a backlog of an earlier run) are ignored.
   */
  | { op: 'track'; mode: MeasureMode; event: string; roomEvent?: string; since: number }
  | { op: 'collect' }
  | { op: 'exit' };

export interface Progress {
  /** Counted messages over all clients. */
  sum: number;
  /** Fewest counted messages of any open client (the slowest client). */
  min: number;
  /** Messages of the room event, over all clients. */
  room: number;
  open: number;
}

export type FromLoader =
  | { op: 'ready' }
  | { op: 'connected'; ok: number; failed: number; ms: number; errors: string[] }
  | { op: 'closed'; open: number }
  | { op: 'tracking'; open: number }
  | { op: 'joined'; ok: number; failed: number; ms: number; histogram: string }
  | ({ op: 'progress' } & Progress)
  | ({ op: 'collected'; histogram: string; closedDuringRun: number } & Progress);

/** Latency histograms hold microseconds, 1 µs to 2 min, 3 significant digits. */
export const HISTOGRAM = { lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 } as const;

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
