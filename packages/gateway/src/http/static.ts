import { readFileSync } from 'node:fs';
import type { GatewayContext } from '../context.js';
import { Reply } from './respond.js';

/** Serves the dashboard page at `/` (read once at start: it is small and never changes). */
export function registerDashboard(ctx: GatewayContext, indexHtmlPath: string): void {
  const html = readFileSync(indexHtmlPath, 'utf8');
  ctx.app.get('/', (res) => {
    const reply = new Reply(res);
    reply.headers.push(['content-security-policy', "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:"]);
    reply.send(200, html, 'text/html; charset=utf-8');
  });
}
