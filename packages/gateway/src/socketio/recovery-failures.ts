import type { GatewayMetrics } from '../metrics.js';

/** The `endpoint` label of Socket.IO connections in the gateway's metrics. */
export const SOCKET_IO_ENDPOINT = 'socket.io';

/**
 * Why a reconnecting client's session was not recovered (the `reason` of
 * `switchboard_socketio_recovery_failures_total`): its offset is not one of ours, the channel's
 * epoch changed (Redis lost its data) or this node's feed has not started, no session is stored
 * under its id (expired, or it left for good), the history no longer holds every frame after
 * its offset, the server disconnected it meanwhile, or the history kept moving under the read.
 * `no_offset` (the client had not processed any packet) is counted where Socket.IO skips the
 * restore altogether, and `error` is a failed read.
 */
export type RecoveryFailure =
  | 'offset_invalid'
  | 'no_offset'
  | 'epoch_changed'
  | 'no_session'
  | 'history_too_short'
  | 'disconnected'
  | 'history_race'
  | 'error';

/** Counts a reconnect that asked for its session and did not get it. */
export function countRecoveryFailure(metrics: GatewayMetrics, reason: RecoveryFailure): void {
  metrics.resumes.inc({ endpoint: SOCKET_IO_ENDPOINT, outcome: 'not_recovered' });
  metrics.socketioRecoveryFailures.inc({ reason });
}
