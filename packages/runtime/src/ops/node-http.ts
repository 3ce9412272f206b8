import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { json, methodNotAllowed, OpsRoutes, type OpsAnswer, type OpsRoutesOptions } from './routes.js';

export interface OpsHttp {
  /** Readiness turns 503 from here on. */
  markDraining(): void;
  close(): Promise<void>;
  readonly port: number;
}

export interface OpsHttpOptions extends Omit<OpsRoutesOptions, 'isDraining'> {
  host: string;
  /** 0 picks a free port (see `port` on the result). */
  port: number;
}

/**
 * The ops routes on a small `node:http` server, for processes without a gateway (worker,
 * bridge). Gateways mount the same routes on their uWebSockets.js app (`mountOpsRoutes`).
 */
export async function startOpsHttp(opts: OpsHttpOptions): Promise<OpsHttp> {
  let draining = false;
  const routes = new OpsRoutes({ ...opts, isDraining: () => draining });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (!routes.has(path)) return write(req, res, json(404, { error: 'not found' }));
    if (req.method !== 'GET' && req.method !== 'HEAD') return write(req, res, methodNotAllowed());
    const answer = routes.answer(path);
    if (answer instanceof Promise) void answer.then((a) => write(req, res, a));
    else write(req, res, answer);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  opts.logger.info({ port }, 'health and metrics listening');

  return {
    port,
    markDraining: () => {
      draining = true;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function write(req: IncomingMessage, res: ServerResponse, answer: OpsAnswer): void {
  if (res.destroyed) return;
  res.writeHead(answer.status, {
    'content-type': answer.contentType,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(answer.body),
    ...answer.headers,
  });
  // HEAD: the same status and headers (content-length included), no body.
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}
