import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

export interface OpsHttp {
  /** Readiness turns 503 from here on. */
  markDraining(): void;
  close(): Promise<void>;
  readonly port: number;
}

export interface OpsHttpOptions {
  host: string;
  port: number;
  registry: Registry;
  logger: Logger;
  /** What `/health` reports besides `status` and `timestamp` (service, node, dependencies...). */
  health: () => Record<string, unknown>;
  /** Whether the process can do its work now (besides not draining), with details for `/readyz`. */
  readiness: () => { ready: boolean; details: Record<string, unknown> };
}

/**
 * A small HTTP server for processes without a gateway (worker, bridge): `/health`, `/livez`,
 * `/readyz`, `/metrics` (DESIGN section 2). Gateways serve these on their uWebSockets.js app.
 */
export async function startOpsHttp(opts: OpsHttpOptions): Promise<OpsHttp> {
  const { registry } = opts;
  let draining = false;

  const server: Server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'method not allowed' }));
    switch (path) {
      case '/health':
        return send(200, JSON.stringify({ status: draining ? 'draining' : 'ok', ...opts.health(), timestamp: new Date().toISOString() }));
      case '/livez':
        return send(200, '{"status":"ok"}');
      case '/readyz': {
        const { ready, details } = opts.readiness();
        const ok = ready && !draining;
        return send(ok ? 200 : 503, JSON.stringify({ ready: ok, draining, ...details }));
      }
      case '/metrics':
        registry.metrics().then(
          (text) => send(200, text, registry.contentType),
          (err: unknown) => {
            opts.logger.error({ err }, 'metrics collection failed');
            send(500, JSON.stringify({ error: 'metrics unavailable' }));
          },
        );
        return;
      default:
        return send(404, JSON.stringify({ error: 'not found' }));
    }
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
