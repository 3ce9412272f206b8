import { createServer } from 'node:net';
import uWS, { type TemplatedApp, type us_listen_socket } from 'uWebSockets.js';

/** uSockets listen options (`LIBUS_LISTEN_*`); this uWS build exports them as plain numbers. */
const LISTEN_SHARED = 0;
const LISTEN_EXCLUSIVE_PORT = 1;

/** The four-argument listen this uWS build has at run time, missing from its type declarations. */
type ListenWithOptions = (host: string, port: number, options: number, callback: (socket: us_listen_socket | false) => void) => TemplatedApp;

/** A listen failure shaped like Node's own (`code`, `address`, `port`), so one formatter words them all. */
export class ListenError extends Error {
  constructor(
    readonly code: string,
    readonly address: string,
    readonly port: number,
  ) {
    super(`cannot listen on ${address}:${port} (${code})`);
    this.name = 'ListenError';
  }
}

/**
 * Binds the app's port. uWS sets SO_REUSEPORT unless told otherwise, so a second process on a
 * taken port would start and silently split the traffic: the port is exclusive unless
 * `reusePort` asks for sharing. Resolves with the bound port.
 */
export function listenExclusive(app: TemplatedApp, host: string, port: number, reusePort: boolean): Promise<{ socket: us_listen_socket; port: number }> {
  return new Promise((resolve, reject) => {
    const listen = app.listen.bind(app) as unknown as ListenWithOptions;
    listen(host, port, reusePort ? LISTEN_SHARED : LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (!socket) {
        void failureCode(host, port).then((code) => reject(new ListenError(code, host, port)));
        return;
      }
      resolve({ socket, port: uWS.us_socket_local_port(socket) });
    });
  });
}

/** uWS reports only that listening failed: ask the OS why with a plain bind of the same address. */
function failureCode(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'UNKNOWN'));
    // The plain bind worked, so the failure is gone or was uWS-specific: say so rather than guess.
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve('UNKNOWN')));
  });
}
