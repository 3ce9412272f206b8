import { STATUS_CODES } from 'node:http';
import { methodNotAllowed, OPS_PATHS, type OpsAnswer, type OpsRoutes } from './routes.js';

/** The part of a uWebSockets.js response the adapter uses (structural: no native import here). */
export interface UwsResponse {
  onAborted(handler: () => void): unknown;
  cork(cb: () => void): unknown;
  writeStatus(status: string): unknown;
  writeHeader(key: string, value: string): unknown;
  end(body?: string): unknown;
  endWithoutBody(reportedContentLength?: number): unknown;
}

type UwsHandler = (res: UwsResponse) => void;

/** The part of a uWebSockets.js app the adapter uses. */
export interface UwsApp {
  get(pattern: string, handler: UwsHandler): unknown;
  head(pattern: string, handler: UwsHandler): unknown;
  post(pattern: string, handler: UwsHandler): unknown;
  put(pattern: string, handler: UwsHandler): unknown;
  del(pattern: string, handler: UwsHandler): unknown;
  patch(pattern: string, handler: UwsHandler): unknown;
}

/**
 * Mounts the ops routes on a uWebSockets.js app: GET and HEAD (headers only) on each path, 405
 * with `Allow` for POST, PUT, DELETE and PATCH. uWS routes HEAD separately from GET. OPTIONS is
 * left to the app (its CORS preflight on `/*`): an `any` route here would win over it, since
 * uWS prefers a static pattern to a wildcard one whatever the method.
 */
export function mountOpsRoutes(app: UwsApp, routes: OpsRoutes): void {
  for (const path of OPS_PATHS) {
    const serve = (headOnly: boolean) => (res: UwsResponse) => {
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const answer = routes.answer(path);
      if (answer instanceof Promise) {
        void answer.then((a) => {
          if (!aborted) write(res, a, headOnly);
        });
      } else {
        write(res, answer, headOnly);
      }
    };
    app.get(path, serve(false));
    app.head(path, serve(true));
    const refuse = (res: UwsResponse) => write(res, methodNotAllowed(), false);
    app.post(path, refuse);
    app.put(path, refuse);
    app.del(path, refuse);
    app.patch(path, refuse);
  }
}

function write(res: UwsResponse, answer: OpsAnswer, headOnly: boolean): void {
  // Corked: one syscall for status, headers and body, also after an await.
  res.cork(() => {
    res.writeStatus(`${answer.status} ${STATUS_CODES[answer.status] ?? 'Unknown'}`);
    res.writeHeader('content-type', answer.contentType);
    res.writeHeader('cache-control', 'no-store');
    for (const [name, value] of Object.entries(answer.headers ?? {})) res.writeHeader(name, value);
    if (headOnly) res.endWithoutBody(Buffer.byteLength(answer.body));
    else res.end(answer.body);
  });
}
