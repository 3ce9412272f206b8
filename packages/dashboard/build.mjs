// Bundles the dashboard (src/, on @switchboard/client) into public/dashboard.js, the one script
// the page loads: a classic script for browsers, no inline code (the gateway's CSP forbids it).
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('src/main.ts', import.meta.url).pathname],
  outfile: new URL('public/dashboard.js', import.meta.url).pathname,
  bundle: true,
  platform: 'browser',
  format: 'iife',
  target: 'es2020',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
