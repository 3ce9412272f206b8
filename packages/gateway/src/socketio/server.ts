import { createAdapter } from '@socket.io/redis-adapter';
import { Server, type Socket } from 'socket.io';
import uWS from 'uWebSockets.js';
import { createRedisClient } from '@switchboard/engine';
import { ERROR_CLIENT_EVENTS, JOB_CLIENT_EVENTS, SOCKET_IO_CHANNEL_PREFIX } from '@switchboard/protocol';
import type { GatewayContext } from '../context.js';
import { SocketRateLimiter } from '../rate-limit.js';
import { guardSocketIoAddresses } from '../ws/admission.js';
import { socketAuth } from './auth.js';
import { registerErrorMonitor } from './error-monitor.js';
import { registerJobMonitor } from './jobs.js';
import { bridgeLocalEmits } from './local-bridge.js';
import { ackOf } from './acks.js';

const ENDPOINT = 'socket.io';
const KNOWN_EVENTS = new Set<string>([...Object.values(ERROR_CLIENT_EVENTS), ...Object.values(JOB_CLIENT_EVENTS)]);

export interface SocketIo {
  io: Server;
  /** Closes every local socket's transport: clients reconnect, through the balancer, elsewhere. */
  drain(): void;
  close(): Promise<void>;
}

/**
 * Socket.IO on the gateway's uWebSockets.js app (one port for everything), the default
 * namespace serving the error monitor and the job monitor. Rooms span the cluster through
 * @socket.io/redis-adapter; on the in-memory engine a local bridge plays the adapter's part.
 */
export async function attachSocketIo(ctx: GatewayContext): Promise<SocketIo> {
  const { app, config, engine, metrics, origins, connections, logger } = ctx;
  const io = new Server({
    cors: { origin: origins.open ? true : config.allowedOrigins, credentials: true },
    // CORS does not cover WebSocket upgrades: check the Origin of every engine.io request.
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
  // attachApp passes only these four options to uWS (DESIGN section 8); set them explicitly.
  io.attachApp(app, {
    compression: uWS.SHARED_COMPRESSOR,
    idleTimeout: 120,
    maxBackpressure: config.wsMaxBackpressureBytes,
    maxPayloadLength: config.wsMaxPayloadBytes,
  } as never);
  guardSocketIoAddresses(ctx, io.engine);

  const adapterClients = config.redisUrl === undefined ? [] : await redisAdapter(ctx, io);
  if (config.redisUrl === undefined) await bridgeLocalEmits(io, engine, metrics);

  io.engine.on('connection_error', (err: { code: number; message: string }) => {
    metrics.socketioErrors.inc({ reason: 'connection_error' });
    logger.debug({ code: err.code, message: err.message }, 'engine.io connection error');
  });

  const limiter = new SocketRateLimiter<Socket>(config.wsRateLimitPerS);
  io.use(socketAuth(ctx));
  io.on('connection', (socket: Socket) => {
    connections.addExternal(ENDPOINT);
    socket.on('disconnect', (reason) => connections.removeExternal(ENDPOINT, reason));
    socket.use((packet, next) => {
      const event = String(packet[0]);
      metrics.socketioEvents.inc({ event: KNOWN_EVENTS.has(event) ? event : 'other' });
      const verdict = limiter.take(socket);
      if (verdict === 'allowed') return next();
      metrics.socketioErrors.inc({ reason: 'rate_limited' });
      if (verdict === 'flood') socket.disconnect(true);
      else ackOf(packet.slice(1))?.({ ok: false, error: `rate limit exceeded: at most ${config.wsRateLimitPerS} events per second` });
    });
    registerErrorMonitor(socket, ctx);
    registerJobMonitor(socket, ctx);
  });

  return {
    io,
    // Closing the engine.io connections (not a Socket.IO disconnect, which clients take as final)
    // makes clients see "transport close" and reconnect, through the balancer, to a live node.
    drain: () => io.engine.close(),
    async close() {
      io.engine.close();
      await Promise.all(adapterClients.map((c) => c.quit().catch(() => c.disconnect())));
    },
  };
}

/** @socket.io/redis-adapter with its own pub/sub connections. */
async function redisAdapter(ctx: GatewayContext, io: Server) {
  const url = ctx.config.redisUrl as string;
  // A publish that cannot reach Redis fails fast instead of queueing (DESIGN section 8).
  const pub = createRedisClient(url, ctx.logger, 'socket.io-pub', { maxRetriesPerRequest: 1 });
  const sub = createRedisClient(url, ctx.logger, 'socket.io-sub');
  await Promise.all([pub.connect(), sub.connect()]);
  sub.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer) => {
    ctx.metrics.socketioBroadcasts.inc({ kind: channel.toString().startsWith(`${SOCKET_IO_CHANNEL_PREFIX}-request#`) ? 'request' : 'broadcast' });
  });
  io.adapter(createAdapter(pub, sub, { key: SOCKET_IO_CHANNEL_PREFIX, requestsTimeout: 5_000 }));
  return [pub, sub];
}
