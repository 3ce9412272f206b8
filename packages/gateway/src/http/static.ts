import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayContext } from '../context.js';
import { getAndHead } from './respond.js';

/**
 * The dashboard's files: a fixed allowlist of exact routes, each bound to one file of the
 * dashboard's directory. Nothing from the request ever reaches a file path, so there is no
 * traversal to guard against; any other path falls through to the 404 route. (The Socket.IO
 * browser client, `/socket.io/socket.io.min.js`, is served by Socket.IO itself: `serveClient`.)
 */
export const DASHBOARD_FILES: Readonly<Record<string, { file: string; contentType: string }>> = {
  '/': { file: 'index.html', contentType: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', contentType: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', contentType: 'text/css; charset=utf-8' },
};

/**
 * No inline script or style at all: even markup that slipped into the page could not run.
 * `connect-src` names ws:/wss: because older browsers do not count same-host WebSockets as 'self'.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: [string, string][] = [
  ['content-security-policy', DASHBOARD_CSP],
  ['x-content-type-options', 'nosniff'],
  ['referrer-policy', 'no-referrer'],
  ['x-frame-options', 'DENY'],
];

/** Serves the dashboard at `/` and its assets (read once at start: small, never changing). */
export function registerDashboard(ctx: GatewayContext, dashboardDir: string): void {
  for (const [route, { file, contentType }] of Object.entries(DASHBOARD_FILES)) {
    const body = readFileSync(join(dashboardDir, file), 'utf8');
    getAndHead(ctx.app, route, (reply) => {
      reply.headers.push(...SECURITY_HEADERS);
      reply.send(200, body, contentType);
    });
  }
}
