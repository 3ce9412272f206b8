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
  /** Churn and rolling restart: reconnecting clients, apart from the fan-out ones. */
  | ({ op: 'churn-connect' } & ChurnStart)
  /** Count messages sent from `since`; clients begin dropping (when `everyMs` > 0). */
  | { op: 'churn-start'; since: number }
  /** No more drops (reconnects under way complete). */
  | { op: 'churn-quiet' }
  | { op: 'churn-status' }
  /** Tallies against `accepted`: base64 of a bitset of the sequence numbers the system accepted. */
  | { op: 'churn-report'; accepted: string }
  | { op: 'churn-close' }
  | { op: 'exit' };

export interface ChurnStart {
  kind: ClientKind;
  /** Targets; each client starts on one and moves to the next on every reconnect. */
  urls: string[];
  count: number;
  concurrency: number;
  /** Raw clients reconnect with `?epoch=E&since=N` (Switchboard's resume). */
  resume: boolean;
  /** Mean time between a client's drops (± 30 %); 0 = only the server closes connections. */
  everyMs: number;
  /** How long a dropped client stays away. */
  downMs: number;
}

export interface ChurnReport {
  /** Clients that connected. */
  clients: number;
  open: number;
  expected_per_client: number;
  /** Accepted messages received, summed over clients (each counted once per client). */
  delivered: number;
  /** Receipts of a message a client already had. */
  duplicates: number;
  complete_clients: number;
  /** Most accepted messages one client never received. */
  worst_missing: number;
  drops: number;
  reconnects: number;
  server_closes: number;
  /** Reconnects the server answered as resumed (raw `resumed` recovered, Socket.IO `recovered`) or not. */
  recovered: number;
  not_recovered: number;
  replayed: number;
  /** Reconnect attempts that failed (and were tried again), with the first few reasons. */
  failed_attempts: number;
  attempt_errors: string[];
  /** Histograms (µs, base64): dialling again → last missed message; server close → first frame. */
  replay: string;
  reconnect: string;
}

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
  | ({ op: 'collected'; histogram: string; closedDuringRun: number } & Progress)
  | { op: 'churn-connected'; ok: number; failed: number; errors: string[] }
  | { op: 'churn-started' }
  | { op: 'churn-quieted' }
  | { op: 'churn-status'; open: number; receipts: number }
  | ({ op: 'churn-reported' } & ChurnReport)
  | { op: 'churn-closed' };

/** Latency histograms hold microseconds, 1 µs to 2 min, 3 significant digits. */
export const HISTOGRAM = { lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 } as const;

/** Milliseconds since the epoch with sub-millisecond precision, comparable across processes. */
export const preciseNow = (): number => performance.timeOrigin + performance.now();
