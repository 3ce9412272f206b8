import type { WebSocket } from 'uWebSockets.js';
import {
  CHANNELS,
  LOGS_TOPICS,
  authErrorFrame,
  authSuccessFrame,
  envelopeFields,
  errorFrame,
  logsClientMessageSchema,
  logsFrame,
  matchesLogFilter,
  metricsFrame,
  newEventId,
  pongFrame,
  validate,
  type LogEntry,
  type LogsClientMessage,
  type LogFilter,
  type PerformanceMetrics,
} from '@switchboard/protocol';
import { readClusterMetrics, readLogHistory } from '@switchboard/state';
import type { GatewayContext } from '../../context.js';
import { ReadCache } from '../../stats-cache.js';
import { fanoutMeter } from '../fanout.js';
import { rejectMessage, sendFrame } from '../inbound.js';
import { registerRawEndpoint } from '../raw-endpoint.js';
import { parseResume } from '../resume.js';
import { CLEAR_PERMISSION, authorizeLogs } from './auth.js';
import { LOGS_ENDPOINT, LogsHub, type LogsSocket } from './hub.js';
import { PRESENCE_CHANNELS } from '../../presence/channels.js';
import { rawPresenceMessage } from '../../presence/raw-clients.js';

export const LOGS_PATH = '/ws/logs';
/** Close code and reason for a connection that sent nothing for IDLE_TIMEOUT_S. */
export const CLOSE_IDLE = 1000;
export const IDLE_REASON = 'idle timeout';
/** Close code and reason for a connection that did not authenticate in LOGS_AUTH_TIMEOUT_MS. */
export const CLOSE_AUTH_TIMEOUT = 1008;
export const AUTH_TIMEOUT_REASON = 'authentication timeout';

type LogsWs = WebSocket<LogsSocket>;
type LogsAuthData = Extract<LogsClientMessage, { type: 'auth' }>['data'];

const NOT_AUTHENTICATED = 'Authentication required: send {"type":"auth","data":{"userId","appId","token"}} first';

/** A filter that lets everything through is no filter (the client rejoins the shared topic). */
const normalizeFilter = (filter: LogFilter | undefined): LogFilter | undefined =>
  filter === undefined || ((filter.level ?? []).length === 0 && filter.startTime === undefined && filter.endTime === undefined)
    ? undefined
    : filter;

/**
 * `/ws/logs` (docs/protocol-logs.md): authenticate with the first message, then live logs of that
 * app only (batched), filters, history, clear and cluster metrics.
 */
export async function registerLogsEndpoint(ctx: GatewayContext): Promise<void> {
  const { config, engine, metrics, logger } = ctx;
  const hub = new LogsHub(ctx);
  const clusterMetrics = new ReadCache<PerformanceMetrics>((now) => readClusterMetrics(engine, config.logMetricsIntervalMs, now), 500);
  const idleMs = config.idleTimeoutS * 1000;

  const authenticate = async (ws: LogsWs, data: LogsAuthData) => {
    const resume = parseResume(data.epoch, data.since, data.acrossEpochs);
    if (!resume.ok) return rejectMessage(ws, ctx, resume.error, authErrorFrame(resume.error));
    const result = authorizeLogs(config, data);
    if (!result.ok) return sendFrame(ws, authErrorFrame(result.message), ctx);
    const feed = await hub.join(ws, result.appId);
    if (feed === undefined) return sendFrame(ws, authErrorFrame('logs are temporarily unavailable; retry'), ctx);
    const socket = ws.getUserData();
    clearTimeout(socket.authTimer);
    socket.auth = { appId: result.appId, userId: result.userId, canClear: result.canClear };
    socket.filter = normalizeFilter(data.filters);
    // Presence: the user only when a token vouched for it.
    ctx.presence.join(PRESENCE_CHANNELS.logs(result.appId), ctx.presence.member(socket, data.token === undefined ? null : result.userId));
    await feed.channel.attach(ws, {
      resume: resume.resume,
      first: () => authSuccessFrame(result.appId, result.userId),
      replay: (client, messages) => feed.replayFrames(messages, client.getUserData().filter),
      join: (client) => hub.admit(client, feed),
    });
  };

  const handle = async (ws: LogsWs, json: unknown) => {
    const data = ws.getUserData();
    const parsed = validate(logsClientMessageSchema, json);
    if (data.auth === undefined) {
      if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error, authErrorFrame(parsed.error));
      if (parsed.value.type !== 'auth') return rejectMessage(ws, ctx, 'not authenticated', authErrorFrame(NOT_AUTHENTICATED));
      return authenticate(ws, parsed.value.data);
    }
    const { appId } = data.auth;
    const presence = rawPresenceMessage(ctx, ws, json, `logs:${appId}`);
    if (presence !== undefined) return presence;
    if (!parsed.ok) return rejectMessage(ws, ctx, parsed.error);
    switch (parsed.value.type) {
      case 'auth':
        return sendFrame(ws, authErrorFrame(`already authenticated for appId "${appId}"; open another connection for another app`), ctx);
      case 'filter':
        return hub.setFilter(ws, appId, normalizeFilter(parsed.value.filters));
      case 'request_history':
        return sendHistory(ws, appId);
      case 'clear':
        if (!data.auth.canClear) {
          metrics.clientErrors.inc({ endpoint: LOGS_ENDPOINT, reason: 'forbidden' });
          return sendFrame(ws, errorFrame(`Not authorized to clear appId "${appId}": the token needs the "${CLEAR_PERMISSION}" permission`, 'clear'), ctx);
        }
        return clear(ws, appId);
      case 'request_metrics':
        return sendMetrics(ws);
      case 'ping':
        return sendFrame(ws, pongFrame(), ctx);
    }
  };

  const sendHistory = async (ws: LogsWs, appId: string) => {
    try {
      const lines = await readLogHistory(engine, appId, config.logHistoryLimit);
      const { filter } = ws.getUserData();
      const kept = filter === undefined ? lines : lines.filter((line) => matchesLogFilter(JSON.parse(line) as LogEntry, filter));
      sendFrame(ws, logsFrame(kept), ctx);
    } catch (err) {
      logger.warn({ err, appId }, 'log history unavailable');
      sendFrame(ws, errorFrame('history is temporarily unavailable'), ctx);
    }
  };

  const clear = async (ws: LogsWs, appId: string) => {
    // Through the ingest stream, so the clear is ordered with the entries around it; `cleared`
    // reaches every client of the app once the worker has emptied the history.
    try {
      await engine.appendIngest(envelopeFields({ kind: 'logs_clear', id: newEventId(), at: Date.now(), body: JSON.stringify({ appId }) }));
    } catch (err) {
      logger.warn({ err, appId }, 'clear not queued');
      sendFrame(ws, errorFrame('clear is temporarily unavailable; retry', 'clear'), ctx);
    }
  };

  const sendMetrics = async (ws: LogsWs) => {
    try {
      sendFrame(ws, metricsFrame(await clusterMetrics.get()), ctx);
    } catch (err) {
      logger.warn({ err }, 'cluster metrics unavailable');
      sendFrame(ws, errorFrame('metrics are temporarily unavailable'), ctx);
    }
  };

  registerRawEndpoint<LogsSocket>(ctx, {
    endpoint: LOGS_ENDPOINT,
    path: LOGS_PATH,
    admit: () => ({ auth: undefined, filter: undefined, idleTimer: undefined, authTimer: undefined }),
    admission: { auth: 'message' },
    // Before auth, every problem is an auth_error: nothing else happens until the client authenticates.
    errorFrameFor: (ws, message) => ((ws.getUserData() as LogsSocket).auth === undefined ? authErrorFrame(message) : errorFrame(message)),
    opened: (ws) => {
      const data = ws.getUserData();
      // Unauthenticated sockets hold a connection slot and get nothing: give them a deadline
      // shorter than the idle timeout, so a crowd of silent or failing clients cannot pile up.
      data.authTimer = setTimeout(() => {
        if (!data.closed && data.auth === undefined) ws.end(CLOSE_AUTH_TIMEOUT, AUTH_TIMEOUT_REASON);
      }, config.logsAuthTimeoutMs);
      // uWS's own idle timeout is reset by pongs too; this one only by the client's messages.
      if (idleMs > 0) {
        data.idleTimer = setTimeout(() => {
          if (!data.closed) ws.end(CLOSE_IDLE, IDLE_REASON);
        }, idleMs);
      }
    },
    handle: (ws, json) => {
      ws.getUserData().idleTimer?.refresh();
      return handle(ws, json);
    },
    closed: (ws) => {
      const data = ws.getUserData();
      clearTimeout(data.idleTimer);
      clearTimeout(data.authTimer);
      if (data.auth !== undefined) hub.leave(ws, data.auth.appId);
      if (data.auth !== undefined) ctx.presence.leave(PRESENCE_CHANNELS.logs(data.auth.appId), ctx.presence.clientIdOf(data));
    },
  });

  // Cluster metrics pushed by the heartbeat worker: one publish to every authenticated client.
  const metricsFanout = fanoutMeter(ctx, LOGS_ENDPOINT, 'logs-metrics');
  await engine.subscribe(CHANNELS.logsMetrics, ({ frame }) => {
    metricsFanout.frame();
    metricsFanout.publish(LOGS_TOPICS.metrics, frame);
  });
}
