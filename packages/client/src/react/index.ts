// @switchboard/client/react: hooks over the SDK's external stores (useSyncExternalStore).
import { createContext, createElement, useContext, useMemo, useSyncExternalStore, type ReactNode } from 'react';
import type { Stats } from '@switchboard/protocol';
import type { ConnectionState } from '../core/reconnecting-socket.js';
import type { Occupancy, PresenceSource } from '../core/presence.js';
import type { ExternalStore } from '../stores/store.js';
import {
  analyticsStatsStore,
  connectionStateStore,
  errorFeedStore,
  jobProgressStore,
  logStreamStore,
  presenceStore,
  type ErrorFeedOptions,
  type PresenceStoreSnapshot,
  type ErrorFeedSnapshot,
  type JobProgressSnapshot,
  type LogStreamOptions,
  type LogStreamSnapshot,
  type StateSource,
} from '../stores/stores.js';
import type { Switchboard } from '../switchboard.js';

const SwitchboardContext = createContext<Switchboard | undefined>(undefined);

/** Makes a Switchboard (created once, outside render) available to the hooks below. */
export function SwitchboardProvider({ client, children }: { client: Switchboard; children?: ReactNode }): ReactNode {
  return createElement(SwitchboardContext.Provider, { value: client }, children);
}

export function useSwitchboard(): Switchboard {
  const client = useContext(SwitchboardContext);
  if (client === undefined) throw new Error('useSwitchboard: wrap the tree in <SwitchboardProvider client={...}>');
  return client;
}

/** Subscribes a component to any of the SDK's stores. */
export function useStore<T>(store: ExternalStore<T>): T {
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/** The latest analytics figures (undefined until the first arrive). */
export function useAnalyticsStats(): Stats | undefined {
  const analytics = useSwitchboard().analytics;
  return useStore(useMemo(() => analyticsStatsStore(analytics), [analytics]));
}

/** A client's connection state; the analytics client's by default. */
export function useConnectionState(client?: StateSource): ConnectionState {
  const fallback = useSwitchboard().analytics;
  const source = client ?? fallback;
  return useStore(useMemo(() => connectionStateStore(source), [source]));
}

/** One app's live logs (its own connection while mounted), with history loaded on connect. */
export function useLogStream(appId: string, options: LogStreamOptions & { userId?: string } = {}): LogStreamSnapshot {
  const switchboard = useSwitchboard();
  const { limit, history, userId = 'anonymous' } = options;
  // The filter is compared by value so an inline object literal does not reconnect every render.
  const filterKey = JSON.stringify(options.filter ?? null);
  const store = useMemo(
    () => logStreamStore(() => switchboard.logs({ appId, userId }), { ...(limit !== undefined ? { limit } : {}), ...(history !== undefined ? { history } : {}), ...(filterKey !== 'null' ? { filter: JSON.parse(filterKey) as NonNullable<LogStreamOptions['filter']> } : {}) }),
    [switchboard, appId, userId, limit, history, filterKey],
  );
  return useStore(store);
}

/** One job's status and latest progress, following its room while mounted. */
export function useJobProgress(jobId: string): JobProgressSnapshot {
  const jobs = useSwitchboard().jobs;
  return useStore(useMemo(() => jobProgressStore(jobs, jobId), [jobs, jobId]));
}

/** The live error feed, newest first (all errors, or one service's or level's). */
export function useErrorFeed(options: ErrorFeedOptions = {}): ErrorFeedSnapshot {
  const errors = useSwitchboard().errors;
  const { limit, service, level } = options;
  return useStore(
    useMemo(
      () => errorFeedStore(errors, { ...(limit !== undefined ? { limit } : {}), ...(service !== undefined ? { service } : {}), ...(level !== undefined ? { level } : {}) }),
      [errors, limit, service, level],
    ),
  );
}

/**
 * Who is connected to a client's channel, live (the analytics, availability or logs client's
 * endpoint channel; the Socket.IO clients' error feed).
 */
export function usePresence(client: PresenceSource): PresenceStoreSnapshot {
  return useStore(useMemo(() => presenceStore(client), [client]));
}

/** How many are connected to a client's channel (connections, distinct users), live. */
export function useOccupancy(client: PresenceSource): Occupancy {
  return usePresence(client).occupancy;
}
