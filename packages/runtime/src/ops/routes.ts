import type { Logger } from 'pino';
import type { Registry } from 'prom-client';

/** One answer of an ops route; a HEAD request gets the same status and headers, no body. */
export interface OpsAnswer {
  status: number;
  body: string;
  contentType: string;
  /** Headers besides content-type and cache-control. */
  headers?: Record<string, string>;
}

/** What a process reports on its ops routes. */
export interface OpsRoutesOptions {
  registry: Registry;
  logger: Logger;
  /** Readiness (and `/health`'s status) turn to draining once this is true. */
  isDraining: () => boolean;
  /** What `/health` reports besides `status` and `timestamp` (service, node, dependencies...). */
  health: () => Record<string, unknown>;
  /** Whether the process can do its work now (besides not draining), with details for `/readyz`. */
  readiness: () => { ready: boolean; details: Record<string, unknown> };
}

/** The methods every ops route answers; any other gets 405 with this as `Allow`. */
export const OPS_ALLOW = 'GET, HEAD';

export const OPS_PATHS = ['/health', '/livez', '/readyz', '/metrics'] as const;
export type OpsPath = (typeof OPS_PATHS)[number];

/**
 * The ops contract every process serves, whatever its HTTP server: `/health` (details, never
 * fails while the process runs), `/livez` (the event loop answers), `/readyz` (503 while draining
 * or unable to work), `/metrics` (Prometheus text). Adapters (uWS, node:http) only move answers.
 */
export class OpsRoutes {
  constructor(private readonly options: OpsRoutesOptions) {}

  /** True for a path this table answers (query string already removed). */
  has(path: string): path is OpsPath {
    return (OPS_PATHS as readonly string[]).includes(path);
  }

  /** The answer to GET (and HEAD) on `path`. */
  answer(path: OpsPath): OpsAnswer | Promise<OpsAnswer> {
    const { isDraining, health, readiness } = this.options;
    switch (path) {
      case '/health':
        return json(200, { status: isDraining() ? 'draining' : 'ok', ...health(), timestamp: new Date().toISOString() });
      case '/livez':
        return json(200, { status: 'ok' });
      case '/readyz': {
        const { ready, details } = readiness();
        const draining = isDraining();
        const ok = ready && !draining;
        return json(ok ? 200 : 503, { ready: ok, draining, ...details });
      }
      case '/metrics':
        return this.metrics();
    }
  }

  private async metrics(): Promise<OpsAnswer> {
    const { registry, logger } = this.options;
    try {
      return { status: 200, body: await registry.metrics(), contentType: registry.contentType };
    } catch (err) {
      logger.error({ err }, 'metrics collection failed');
      return json(500, { error: 'metrics unavailable' });
    }
  }
}

export const json = (status: number, value: unknown): OpsAnswer => ({ status, body: JSON.stringify(value), contentType: 'application/json' });

/** The answer to a method other than GET or HEAD on an ops path. */
export const methodNotAllowed = (): OpsAnswer => ({ ...json(405, { error: 'method not allowed' }), headers: { allow: OPS_ALLOW } });
