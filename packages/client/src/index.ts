// @switchboard/client: the SDK for Switchboard's realtime endpoints (no React here: see ./react).
export { AnalyticsClient, ANALYTICS_CHANNEL, ANALYTICS_PATH, type AnalyticsEvents } from './analytics/client.js';
export type { ReceivedAnalyticsEvent } from './analytics/frames.js';
export { AvailabilityClient, AVAILABILITY_CHANNEL, AVAILABILITY_PATH, type AvailabilityAlert, type AvailabilityEvents } from './availability/client.js';
export { LogsClient, LOGS_PATH, logsChannel, type LogsClientOptions, type LogsEvents } from './logs/client.js';
export { ErrorMonitorClient, type ErrorMonitorEvents } from './socketio/error-monitor.js';
export { JobMonitorClient, type JobMonitorEvents, type JobProgress, type ReceivedJobEvent } from './socketio/job-monitor.js';
export type { SocketIoBaseEvents, SocketIoClientOptions } from './socketio/base.js';
export { Switchboard, type SwitchboardOptions } from './switchboard.js';
export type { BaseEvents, PingResult, RawClientOptions } from './core/raw-client.js';
export { backoffDelay, restartDelay, DEFAULT_BACKOFF, type BackoffOptions } from './core/backoff.js';
export type { ChannelPosition, Gap, ResumeOutcome } from './core/resume.js';
export { AuthError, ClientClosedError, FrameError, RequestRejectedError, RequestTimeoutError } from './core/errors.js';
export type { ConnectionState, TokenProvider } from './core/reconnecting-socket.js';
export type { WebSocketConstructor, WebSocketLike } from './core/websocket.js';
export { lazyStore, type ExternalStore } from './stores/store.js';
export { applyPresenceDiff, type Occupancy, type PresenceDiff, type PresenceMember, type PresencePosition, type PresenceResumed, type PresenceSnapshot, type PresenceSource, type PresenceUpdate } from './core/presence.js';
export {
  analyticsStatsStore,
  connectionStateStore,
  errorFeedStore,
  jobProgressStore,
  logStreamStore,
  presenceStore,
  type PresenceStoreSnapshot,
  type ErrorFeedOptions,
  type ErrorFeedSnapshot,
  type JobProgressSnapshot,
  type JobStatus,
  type LogStreamOptions,
  type LogStreamSnapshot,
  type StateSource,
} from './stores/stores.js';
// Wire types, re-exported for convenience (type-only: no runtime cost).
export type { ErrorEventRecord, LogEntry, LogFilter, PerformanceMetrics, Stats, AvailabilityData, JobEventType } from '@switchboard/protocol';
