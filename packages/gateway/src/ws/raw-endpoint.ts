import type { HttpRequest, WebSocket } from 'uWebSockets.js';
import type { GatewayContext } from '../context.js';
import { Reply } from '../http/respond.js';
import { admitUpgrade, type AdmissionOptions } from './admission.js';
import type { SocketData } from './connections.js';
import { rawEndpointSettings } from './fanout.js';
import { createInboundDecoder, type ErrorFramer } from './inbound.js';
import type { HistoryRequest } from '@switchboard/engine';
import { parseResume } from './resume.js';

/** What every raw-endpoint socket carries on top of SocketData. */
export interface RawSocket extends SocketData {
  /** The step being handled (start, then each client message): the next one waits for it. */
  turn: Promise<void>;
}

/** An upgrade refusal decided by the endpoint itself (bad query parameters). */
export interface UpgradeRefusal {
  status: number;
  reason: string;
  message: string;
}

export interface RawEndpointSpec<T extends RawSocket> {
  endpoint: string;
  path: string;
  /** Per-socket data beyond RawSocket, read from the upgrade request; or a refusal. */
  admit(req: HttpRequest): Omit<T, keyof RawSocket> | UpgradeRefusal;
  admission?: AdmissionOptions;
  /** How an inbound problem is worded to this client (default `{"type":"error"}`). */
  errorFrameFor?: ErrorFramer;
  /** Synchronous per-connection setup right after open (timers). */
  opened?(ws: WebSocket<T>): void;
  /**
   * The connection's first step, before any client message is handled: the first frame,
   * resume and joining the fan-out.
   */
  start?: (ws: WebSocket<T>) => Promise<void> | void;
  /** One client message (parsed JSON), handled after every earlier step of the connection. */
  handle(ws: WebSocket<T>, json: unknown): Promise<void> | void;
  /** Synchronous cleanup; the socket is already marked closed. */
  closed?(ws: WebSocket<T>, code: number): void;
}

/** The `?epoch=&since=` of an upgrade; bad values are refused with a 400 naming the field. */
export function resumeFromUpgrade(req: HttpRequest): { request: HistoryRequest | undefined } | UpgradeRefusal {
  const parsed = parseResume(req.getQuery('epoch'), req.getQuery('since'), req.getQuery('acrossEpochs'));
  return parsed.ok ? { request: parsed.resume } : { status: 400, reason: 'bad_resume', message: parsed.error };
}

const isRefusal = (value: object): value is UpgradeRefusal => 'status' in value && 'reason' in value && 'message' in value;

/**
 * One open → first frame → resume → dispatch path for every raw endpoint. A connection's steps
 * (its start, then each message) run one at a time in arrival order, whatever each awaits, and a
 * failing step is logged and counted instead of becoming an unhandled rejection.
 */
export function registerRawEndpoint<T extends RawSocket>(ctx: GatewayContext, spec: RawEndpointSpec<T>): void {
  const { app, config, metrics, connections, logger } = ctx;
  const { endpoint } = spec;
  const decode = createInboundDecoder(ctx, endpoint, spec.errorFrameFor);
  metrics.connections.set({ endpoint }, 0); // expose the series before the first client

  const enqueue = (ws: WebSocket<T>, step: () => Promise<void> | void) => {
    const data = ws.getUserData();
    data.turn = data.turn.then(step).catch((err: unknown) => {
      metrics.clientErrors.inc({ endpoint, reason: 'internal' });
      logger.error({ err, endpoint, connection: data.id }, 'raw endpoint step failed');
    });
  };

  app.ws<T>(spec.path, {
    ...rawEndpointSettings(config),

    upgrade: (res, req, context) => {
      const extra = spec.admit(req);
      if (isRefusal(extra)) {
        metrics.upgradesRefused.inc({ endpoint, reason: extra.reason });
        new Reply(res).json(extra.status, { error: extra.message }, true);
        return;
      }
      admitUpgrade<T>(ctx, endpoint, res, req, context, { ...extra, turn: Promise.resolve() } as Omit<T, keyof SocketData>, spec.admission);
    },

    open: (ws) => {
      connections.add(ws);
      ctx.presence.opened(ws.getUserData());
      spec.opened?.(ws);
      const { start } = spec;
      if (start !== undefined) enqueue(ws, () => start(ws));
    },

    message: (ws, message, isBinary) => {
      // Decoded now (the buffer is only valid during this callback); handling waits for the
      // connection's previous steps.
      const json = decode(ws, message, isBinary);
      if (json === undefined) return;
      enqueue(ws, async () => {
        if (!ws.getUserData().closed) await spec.handle(ws, json);
      });
    },

    close: (ws, code) => {
      connections.remove(ws, code);
      ctx.presence.closed(ws.getUserData());
      spec.closed?.(ws, code);
    },
  });
}
