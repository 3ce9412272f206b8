import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { JsonText } from '@switchboard/engine';
import type { GatewayContext } from '../context.js';
import { Reply } from '../http/respond.js';
import { AdminAuth, type AdminCaller } from './admin-auth.js';

/** Every server API route lives under this prefix. */
export const API_PREFIX = '/api/v1';

export interface ApiRequest {
  /** Path parameters by name, percent-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  caller: AdminCaller;
}

export interface ApiAnswer {
  status: number;
  /** Serialized as JSON; a JsonText field of the body object is written as is (stored JSON, never parsed). */
  body: unknown;
}

/** A body's JSON text: its JsonText fields (such as a presence page's members) go in as they are. */
export function bodyText(body: unknown): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !Object.values(body).some((v) => v instanceof JsonText)) return JSON.stringify(body);
  const fields: string[] = [];
  for (const [name, value] of Object.entries(body)) {
    const text = value instanceof JsonText ? value.text : (JSON.stringify(value) as string | undefined);
    if (text !== undefined) fields.push(`${JSON.stringify(name)}:${text}`);
  }
  return `{${fields.join(',')}}`;
}

/** A refusal a handler throws: answered as `{"error": message}` with its status. */
export class ApiError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

/** An OpenAPI operation object, minus what the route table already says. */
export type OperationDoc = Record<string, unknown>;

export interface ApiRoute {
  method: 'get' | 'post' | 'delete';
  /** OpenAPI-style path under API_PREFIX, parameters as `{name}` (one whole segment each). */
  path: string;
  /** Its OpenAPI operation (summary, parameters, responses). */
  doc: OperationDoc;
  handle(request: ApiRequest): Promise<ApiAnswer> | ApiAnswer;
}

/** uWS names DELETE `del`. */
const UWS_METHOD = { get: 'get', post: 'post', delete: 'del' } as const;

/** `/channels/{name}/history` → the uWS pattern `/api/v1/channels/:name/history` and the names in order. */
export function uwsPattern(path: string): { pattern: string; names: string[] } {
  const names: string[] = [];
  const pattern = path.replace(/\{([A-Za-z]+)\}/g, (_, name: string) => {
    names.push(name);
    return `:${name}`;
  });
  return { pattern: `${API_PREFIX}${pattern}`, names };
}

/** A whole number query parameter within bounds; `fallback` when absent. */
export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const value = /^\d{1,16}$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new ApiError(400, `${name}: expected a whole number from ${min} to ${max}`);
  return value;
}

/**
 * Mounts the server API: every route (and any other path under the prefix) answers 401/403
 * before anything else without the admin credential; then 400/404 from the handler's ApiError,
 * 503 when the engine failed, or the handler's answer. JSON throughout, never cached.
 */
export function mountServerApi(ctx: GatewayContext, routes: ApiRoute[]): void {
  const { app, config, logger, origins, engine } = ctx;
  const auth = new AdminAuth(config.serverApi, config.jwt);
  const log = logger.child({ component: 'server-api' });

  const serve = (res: HttpResponse, req: HttpRequest, names: string[], route: ApiRoute | undefined): void => {
    const reply = new Reply(res, false, req);
    const origin = req.getHeader('origin');
    if (origins.allows(origin)) reply.headers.push(...origins.corsHeaders(origin));
    const check = auth.check(req.getHeader('authorization'));
    if (!check.ok) {
      if (check.status === 401) reply.headers.push(['www-authenticate', 'Bearer realm="switchboard-api"']);
      return reply.json(check.status, { error: check.error });
    }
    if (route === undefined) return reply.json(404, { error: `not found: ${req.getMethod().toUpperCase()} ${req.getUrl()}` });
    const params: Record<string, string> = {};
    try {
      names.forEach((name, index) => (params[name] = decodeURIComponent(req.getParameter(index))));
    } catch {
      return reply.json(400, { error: 'path: bad percent-encoding' });
    }
    const query = new URLSearchParams(req.getQuery());
    ctx.inflight.begin();
    Promise.resolve()
      .then(() => route.handle({ params, query, caller: check.caller }))
      .then(({ status, body }) => reply.send(status, bodyText(body)))
      .catch((err: unknown) => {
        if (err instanceof ApiError) return reply.json(err.status, { error: err.message });
        log.warn({ err, route: `${route.method.toUpperCase()} ${route.path}` }, 'server API request failed');
        reply.json(503, { error: `unavailable (redis ${engine.health()}), retry` });
      })
      .finally(() => ctx.inflight.end());
  };

  for (const route of routes) {
    const { pattern, names } = uwsPattern(route.path);
    app[UWS_METHOD[route.method]](pattern, (res, req) => serve(res, req, names, route));
  }
  // Anything else under the prefix: refused without the credential too, else 404.
  app.any(`${API_PREFIX}/*`, (res, req) => serve(res, req, [], undefined));
}
