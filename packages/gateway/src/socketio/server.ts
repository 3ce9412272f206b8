import { Server, type Socket } from 'socket.io';
import uWS from 'uWebSockets.js';
import { ERROR_CLIENT_EVENTS, JOB_CLIENT_EVENTS } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { pollingCors } from '../http/cors.js';
import { SocketRateLimiter } from '../rate-limit.js';
import { guardSocketIoAddresses } from '../ws/admission.js';
import { engineAdapter, type EngineAdapter } from './adapter.js';
import { SOCKET_IO_ENDPOINT, countRecoveryFailure } from './recovery-failures.js';
import { socketAuth } from './auth.js';
import { errorMonitor } from './error-monitor.js';
import { jobMonitor } from './jobs.js';
import { ackOf } from './acks.js';
import { SessionStore } from './session-store.js';
import { LongPollingCount, subscribeRecoveredTopics } from './uws-topics.js';
import { registerPresenceEvents, trackSocketIoPresence, userLimitMiddleware } from '../presence/socketio.js';

const ENDPOINT = SOCKET_IO_ENDPOINT;
/** How long a drain waits for the sessions to be stored before it closes the transports anyway. */
const DRAIN_STORE_TIMEOUT_MS = 2_000;
const KNOWN_EVENTS = new Set<string>([...Object.values(ERROR_CLIENT_EVENTS), ...Object.values(JOB_CLIENT_EVENTS)]);

export interface SocketIo {
  io: Server;
  /**
   * Stores every local socket's session, then closes its transport: clients reconnect, through
   * the balancer, elsewhere, and find their latest session there.
   */
  drain(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Socket.IO on the gateway's uWebSockets.js app (one port for everything), the default
 * namespace serving the error monitor and the job monitor. Rooms span the cluster through the
 * engine (see EngineAdapter), on Redis and in memory alike, with connection state recovery:
 * a client that comes back within HISTORY_TTL_S, to any gateway, gets its session and every
 * packet it missed.
 */
export async function attachSocketIo(ctx: GatewayContext): Promise<SocketIo> {
  const { app, config, engine, metrics, origins, connections, logger } = ctx;
  const sessions = new SessionStore(engine, config.historyTtlS, logger);
  const longPolling = new LongPollingCount();
  const io = new Server({
    adapter: engineAdapter({ engine, sessions, metrics, logger, subscription: ctx.subscription, historySize: config.historySize, longPolling, app }),
    // Recovered sockets skip the connection middleware: their session carries the identity the
    // token proved when they first connected (Socket.IO's default).
    connectionStateRecovery: { maxDisconnectionDuration: config.historyTtlS * 1000, skipMiddlewares: true },
    // No `cors` option: engine.io would run it on every request, upgrades included (see
    // pollingCors). The Origin of every new engine.io session is checked here, on any transport.
    allowRequest: (req, callback) => {
      if (ctx.isDraining()) return callback('node is shutting down', false);
      if (connections.total >= config.maxConnections) return callback('node is at MAX_CONNECTIONS', false);
      const origin = typeof req.headers.origin === 'string' ? req.headers.origin : '';
      if (!origins.allows(origin)) {
        metrics.socketioErrors.inc({ reason: 'origin' });
        return callback('origin not allowed', false);
      }
      callback(null, true);
    },
    maxHttpBufferSize: config.wsMaxPayloadBytes,
    // The dashboard loads the browser client from /socket.io/socket.io.min.js (a fixed file list).
    serveClient: true,
  });
  // attachApp passes only these four options to uWS (docs/architecture.md#libraries-and-their-pitfalls); set them explicitly.
  io.attachApp(app, {
    compression: uWS.SHARED_COMPRESSOR,
    idleTimeout: 120,
    maxBackpressure: config.wsMaxBackpressureBytes,
    maxPayloadLength: config.wsMaxPayloadBytes,
  } as never);
  io.engine.use(pollingCors(origins));
  guardSocketIoAddresses(ctx, io.engine);
  longPolling.watch(io.engine);

  const adapter = io.of('/').adapter as unknown as EngineAdapter;
  await adapter.init();

  io.engine.on('connection_error', (err: { code: number; message: string }) => {
    metrics.socketioErrors.inc({ reason: 'connection_error' });
    logger.debug({ code: err.code, message: err.message }, 'engine.io connection error');
  });

  const limiter = new SocketRateLimiter<Socket>(config.wsRateLimitPerS);
  // Listeners shared by every socket (an idle connection holds none of its own).
  const registerErrorMonitor = errorMonitor(ctx);
  const registerJobMonitor = jobMonitor(ctx);
  const onDisconnect = (reason: string) => connections.removeExternal(ENDPOINT, reason);
  trackSocketIoPresence(ctx.presence, io.of('/'));
  io.use(socketAuth(ctx));
  io.use(userLimitMiddleware(ctx.presence));
  io.on('connection', (socket: Socket) => {
    if (socket.recovered) {
      subscribeRecoveredTopics(socket);
      adapter.replayMissed(socket);
    } else {
      adapter.sendRecoveryOffset(socket);
      // A client that had a session but no offset: Socket.IO did not even try to restore it.
      if (typeof socket.handshake.auth['pid'] === 'string' && typeof socket.handshake.auth['offset'] !== 'string') {
        countRecoveryFailure(metrics, 'no_offset');
        logger.info({ reason: 'no_offset' }, 'Socket.IO session not recovered');
      }
    }
    connections.addExternal(ENDPOINT);
    socket.on('disconnect', onDisconnect);
    socket.use((packet, next) => {
      const event = String(packet[0]);
      metrics.socketioEvents.inc({ event: KNOWN_EVENTS.has(event) ? event : 'other' });
      const verdict = limiter.take(socket);
      if (verdict === 'allowed') return next();
      metrics.socketioErrors.inc({ reason: 'rate_limited' });
      if (verdict === 'flood') socket.disconnect(true);
      else ackOf(packet.slice(1))?.({ ok: false, error: `rate limit exceeded: at most ${config.wsRateLimitPerS} events per second` });
    });
    registerErrorMonitor(socket);
    registerJobMonitor(socket);
    registerPresenceEvents(ctx.presence, socket);
    // The request that opened the connection is not needed once it is set up (its headers stay
    // in `socket.handshake`): Socket.IO's advice for memory per connection.
    (socket.conn as unknown as { request: unknown }).request = null;
  });

  return {
    io,
    // Closing the engine.io connections (not a Socket.IO disconnect, which clients take as final)
    // makes clients see "transport close" and reconnect, through the balancer, to a live node.
    // Their sessions are stored first: a client back elsewhere within milliseconds would
    // otherwise race the store of a room it joined just before.
    async drain() {
      await adapter.storeSessions(DRAIN_STORE_TIMEOUT_MS);
      io.engine.close();
    },
    async close() {
      io.engine.close();
      // The sessions of the sockets just closed must be stored before the engine goes.
      await sessions.flush();
      await adapter.close();
    },
  };
}
