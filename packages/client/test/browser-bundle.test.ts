import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/**
 * The SDK as a browser app's bundler sees it: the built entry points bundled for the browser
 * platform. A Node built-in, or a runtime import of zod through @switchboard/protocol, fails here
 * rather than in a frontend team's build. The gzip budget leaves room to grow, not to double.
 */
const entry = (path: string) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url));
const CORE_BUDGET_GZIP_BYTES = 40 * 1024;

async function bundle(path: string, external: string[] = []) {
  const result = await build({
    entryPoints: [entry(path)],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2020',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    external,
  });
  const code = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { code, gzip: gzipSync(code).length, inputs: Object.keys(result.metafile.inputs) };
}

describe('@switchboard/client in a browser bundle', () => {
  it('bundles the core entry for browsers without Node built-ins, zod or react', async () => {
    const { gzip, inputs } = await bundle('index.js');
    expect(inputs.some((file) => file.includes('node_modules/socket.io-client/'))).toBe(true);
    expect(inputs.filter((file) => /node_modules\/(zod|react|react-dom|ws)\//.test(file))).toEqual([]);
    expect(inputs.filter((file) => file.startsWith('node:'))).toEqual([]);
    expect(gzip).toBeLessThan(CORE_BUDGET_GZIP_BYTES);
  });

  it('bundles the React entry with react left to the app', async () => {
    const { inputs } = await bundle('react/index.js', ['react']);
    expect(inputs.some((file) => file.endsWith('react/index.js'))).toBe(true);
    expect(inputs.filter((file) => /node_modules\/(zod|react-dom|ws)\//.test(file))).toEqual([]);
  });
});
