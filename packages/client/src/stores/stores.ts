import type { ErrorEventRecord, LogEntry, LogFilter, Stats } from '@switchboard/protocol';
import type { AnalyticsClient } from '../analytics/client.js';
import type { ConnectionState } from '../core/reconnecting-socket.js';
import { applyPresenceDiff, type Occupancy, type PresenceMember, type PresenceSnapshot, type PresenceSource } from '../core/presence.js';
import type { LogsClient } from '../logs/client.js';
import type { ErrorMonitorClient } from '../socketio/error-monitor.js';
import type { JobMonitorClient, JobProgress, ReceivedJobEvent } from '../socketio/job-monitor.js';
import { bounded, lazyStore, type ExternalStore } from './store.js';

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/** Anything with an observable connection state (every client of this SDK). */
export interface StateSource {
  readonly state: ConnectionState;
  on(event: 'state', listener: (state: ConnectionState) => void): () => void;
}

export function connectionStateStore(client: StateSource): ExternalStore<ConnectionState> {
  return lazyStore(client.state, (set) => {
    set(client.state); // it may have changed before the first subscriber came
    return client.on('state', set);
  });
}

/** The latest analytics figures (initial stats, heartbeats, refreshes). */
export function analyticsStatsStore(client: AnalyticsClient): ExternalStore<Stats | undefined> {
  return lazyStore(client.stats, (set) => {
    set(client.stats);
    return client.on('stats', set);
  });
}

export interface LogStreamSnapshot {
  /** Oldest first, at most `limit`. */
  entries: readonly LogEntry[];
  state: ConnectionState;
  /** The last problem (refused credentials, bad frame), if any. */
  error: Error | undefined;
}

export interface LogStreamOptions {
  /** Most entries kept (default 500). */
  limit?: number;
  /** Load the app's history first (default true). */
  history?: boolean;
  filter?: LogFilter;
}

/**
 * One app's live logs. The first subscriber opens a `/ws/logs` connection (from `open`), the
 * last one closes it. History is loaded on connect; a reconnect resumes (the entries are kept
 * and the missed ones replayed), or when it cannot, the client loads the history again, so
 * nothing the server kept is missing after an outage. `cleared` empties the list.
 */
export function logStreamStore(open: () => LogsClient, { limit = 500, history = true, filter }: LogStreamOptions = {}): ExternalStore<LogStreamSnapshot> {
  const initial: LogStreamSnapshot = { entries: [], state: 'closed', error: undefined };
  return lazyStore(initial, (set) => {
    const client = open();
    if (filter !== undefined) client.setFilter(filter);
    const update = (patch: Partial<LogStreamSnapshot>) => set((previous) => ({ ...previous, ...patch }));
    const offs = [
      client.on('state', (state) => update({ state })),
      client.on('error', (error) => update({ error })),
      client.on('logs', (entries) => set((previous) => ({ ...previous, entries: bounded(previous.entries, entries, limit) }))),
      client.on('cleared', () => update({ entries: [] })),
      client.on('history', (entries) => {
        // Live entries that arrived while history was on its way may be in it, or newer.
        if (history) set((previous) => ({ ...previous, entries: bounded([], mergeById(entries, previous.entries), limit) }));
      }),
      client.on('open', () => {
        update({ error: undefined });
        // A resumed connection replays what was missed (or, when it cannot, the client fetches
        // the history itself): only a fresh connection loads it here.
        if (!history || client.resuming) return;
        client.requestHistory().catch((error: unknown) => update({ error: asError(error) }));
      }),
    ];
    update({ state: client.state });
    return () => {
      for (const off of offs) off();
      client.close();
    };
  });
}

/** `first`, then the entries of `then` that `first` does not have. */
function mergeById(first: readonly LogEntry[], then: readonly LogEntry[]): LogEntry[] {
  const known = new Set(first.map((entry) => entry.id));
  return [...first, ...then.filter((entry) => !known.has(entry.id))];
}

export type JobStatus = 'waiting' | 'running' | 'completed' | 'failed';

export interface JobProgressSnapshot {
  status: JobStatus;
  /** The latest `job_progress` figures. */
  progress: JobProgress | undefined;
  /** The latest event of the job, of any type. */
  last: ReceivedJobEvent | undefined;
  /** Why subscribing failed (e.g. `Forbidden: …`), if it did. */
  error: Error | undefined;
  /** Events may have been missed: a reconnect could not recover the session. */
  missed: boolean;
}

const STATUS_BY_TYPE: Partial<Record<ReceivedJobEvent['type'], JobStatus>> = {
  job_started: 'running',
  job_progress: 'running',
  item_scraped: 'running',
  job_completed: 'completed',
  job_failed: 'failed',
};

/** Rooms joined through stores, counted per client and room: the last store to leave leaves the room. */
const roomCounts = new WeakMap<object, Map<string, number>>();

function joinShared(client: object, room: string, join: () => Promise<void>, leave: () => Promise<void>): { joined: Promise<void> | undefined; release: () => void } {
  const counts = roomCounts.get(client) ?? new Map<string, number>();
  roomCounts.set(client, counts);
  const count = counts.get(room) ?? 0;
  counts.set(room, count + 1);
  return {
    joined: count === 0 ? join() : undefined,
    release: () => {
      const left = (counts.get(room) ?? 1) - 1;
      if (left > 0) return void counts.set(room, left);
      counts.delete(room);
      leave().catch(() => undefined); // best effort: the room ends with the connection anyway
    },
  };
}

/** One job's progress: subscribes to its room while observed. */
export function jobProgressStore(client: JobMonitorClient, jobId: string): ExternalStore<JobProgressSnapshot> {
  const initial: JobProgressSnapshot = { status: 'waiting', progress: undefined, last: undefined, error: undefined, missed: false };
  return lazyStore(initial, (set) => {
    const stopMarking = markMissed(client, () => set((previous) => (previous.missed ? previous : { ...previous, missed: true })));
    const stopListening = client.onJob(jobId, (event) =>
      set((previous) => ({
        ...previous,
        status: STATUS_BY_TYPE[event.type] ?? previous.status,
        progress: event.type === 'job_progress' ? event.data : previous.progress,
        last: event,
      })),
    );
    const { joined, release } = joinShared(client, `job:${jobId}`, () => client.subscribe(jobId), () => client.unsubscribe(jobId));
    joined?.catch((error: unknown) => set((previous) => ({ ...previous, error: asError(error) })));
    return () => {
      stopMarking();
      stopListening();
      release();
    };
  });
}

/** Calls `mark` when a reconnect of a Socket.IO client could not recover its session. */
function markMissed(client: ErrorMonitorClient | JobMonitorClient, mark: () => void): () => void {
  return (client as ErrorMonitorClient).on('resumed', ({ recovered }) => {
    if (!recovered) mark();
  });
}

export interface ErrorFeedOptions {
  /** Most records kept, newest first (default 100). */
  limit?: number;
  /** Only this service's errors (joins `service:<name>`). */
  service?: string;
  /** Only this level's errors (joins `level:<name>`); ignored when `service` is set. */
  level?: string;
}

export interface ErrorFeedSnapshot {
  /** Newest first, at most `limit`. */
  records: readonly ErrorEventRecord[];
  /** Why joining the service or level room failed, if it did. */
  error: Error | undefined;
  /** Records may be missing: a reconnect could not recover the session. */
  missed: boolean;
}

/** The live error feed, newest first: everything, or one service's or one level's room. */
export function errorFeedStore(client: ErrorMonitorClient, { limit = 100, service, level }: ErrorFeedOptions = {}): ExternalStore<ErrorFeedSnapshot> {
  const initial: ErrorFeedSnapshot = { records: [], error: undefined, missed: false };
  return lazyStore(initial, (set) => {
    const add = (record: ErrorEventRecord) => set((previous) => ({ ...previous, records: bounded(previous.records, [record], limit, true) }));
    const stopMarking = markMissed(client, () => set((previous) => (previous.missed ? previous : { ...previous, missed: true })));
    if (service === undefined && level === undefined) {
      const off = client.on('error:new', add);
      return () => {
        stopMarking();
        off();
      };
    }
    const room =
      service !== undefined
        ? { key: `service:${service}`, event: 'error:service' as const, matches: (r: ErrorEventRecord) => r.service === service, join: () => client.subscribeService(service), leave: () => client.unsubscribeService(service) }
        : { key: `level:${level}`, event: 'error:level' as const, matches: (r: ErrorEventRecord) => r.level === level, join: () => client.subscribeLevel(level as string), leave: () => client.unsubscribeLevel(level as string) };
    const off = client.on(room.event, (record) => {
      if (room.matches(record)) add(record);
    });
    const { joined, release } = joinShared(client, room.key, room.join, room.leave);
    joined?.catch((error: unknown) => set((previous) => ({ ...previous, error: asError(error) })));
    return () => {
      stopMarking();
      off();
      release();
    };
  });
}

export interface PresenceStoreSnapshot {
  /** The channel's members (the first 100 the server lists, kept current by the diffs), by clientId. */
  members: readonly PresenceMember[];
  occupancy: Occupancy;
  /** The server listed only the first members. */
  truncated: boolean;
  /** Whether a snapshot has arrived. */
  loaded: boolean;
  error: Error | undefined;
}

/**
 * Who is connected to a client's channel, live: a snapshot, kept current by the presence diffs
 * while the store has subscribers; across a reconnect, by the diffs missed meanwhile, or by a
 * fresh snapshot when the server could not recover them.
 */
export function presenceStore(client: PresenceSource): ExternalStore<PresenceStoreSnapshot> {
  const initial: PresenceStoreSnapshot = { members: [], occupancy: { connections: 0, users: 0 }, truncated: false, loaded: false, error: undefined };
  return lazyStore(initial, (set) => {
    let current: PresenceSnapshot | undefined;
    const publish = (snapshot: PresenceSnapshot) => {
      current = snapshot;
      set({ members: snapshot.members, occupancy: snapshot.occupancy, truncated: snapshot.truncated === true, loaded: true, error: undefined });
    };
    return client.followPresence((update) => {
      if (update.kind === 'snapshot') publish(update.snapshot);
      else if (update.kind === 'diff') {
        if (current !== undefined) publish(applyPresenceDiff(current, update.diff));
      } else set((previous) => ({ ...previous, error: update.error }));
    });
  });
}
