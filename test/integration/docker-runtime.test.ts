/**
 * The image's runtime stage without Docker (none runs here): deploy/Dockerfile's own lines are
 * replayed in a temporary directory standing for /app. The prod-deps stage's COPY and `npm ci`
 * lines run for real (offline when the npm cache has the packages: CI has just run `npm ci`);
 * the runtime stage's `COPY --from=build /app/x` lines take x from this built workspace. Then the
 * ENTRYPOINT (without tini) and CMD start, /readyz answers, and SIGTERM exits 0.
 *
 * What this cannot show: the base image, apt (tini), the non-root user, the HEALTHCHECK runner.
 */
import { spawn, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCopy, parseDockerfile, read, rel, type DockerInstruction } from '../deploy/support.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

const steps = parseDockerfile(read('deploy/Dockerfile'));
const stageOf = (name: string) => steps.filter((s) => s.stage === name);
const parentOf = (name: string) => steps.find((s) => s.op === 'FROM' && s.stage === name)?.args.split(/\s+/)[0];
const root = mkdtempSync(join(tmpdir(), 'sb-image-'));
const prodDir = join(root, 'prod-deps');
const appDir = join(root, 'app');

/** Replays COPY (from the context) and `npm ci` RUN lines of a stage and its parents into `dir` (= /app). */
function replay(stage: string, dir: string): string[] {
  const chain: string[] = [];
  for (let s: string | undefined = stage; s !== undefined && stageOf(s).length > 0; s = parentOf(s)) chain.unshift(s);
  const ran: string[] = [];
  for (const step of chain.flatMap<DockerInstruction>(stageOf)) {
    if (step.op === 'COPY') {
      const { from, sources, dest } = parseCopy(step.args);
      if (from !== undefined) throw new Error(`unexpected COPY --from in ${stage}'s chain: ${step.args}`);
      for (const src of sources) {
        const target = dest.endsWith('/') ? join(dir, dest, posix.basename(src)) : join(dir, dest);
        mkdirSync(dirname(target), { recursive: true });
        cpSync(rel(src), target, { recursive: true });
      }
    } else if (step.op === 'RUN' && /\bnpm ci\b/.test(step.args)) {
      // Only the stage being built runs npm: its parents' installs are replaced by its own (npm ci empties node_modules).
      if (step.stage !== stage) continue;
      const command = step.args.replace(/--mount=\S+\s*/g, '');
      execFileSync('sh', ['-c', `${command} --prefer-offline --no-audit --no-fund --loglevel=error`], { cwd: dir, stdio: 'pipe' });
      ran.push(command);
    }
  }
  return ran;
}

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('deploy/Dockerfile runtime stage, replayed without Docker', () => {
  it('installs production dependencies only, assembles the runtime tree, and serves /readyz', async () => {
    mkdirSync(prodDir, { recursive: true });
    expect(replay('prod-deps', prodDir)).toEqual(['npm ci --omit=dev']);
    // Production install: no dev tooling, and the native uWebSockets.js binary for this platform.
    expect(existsSync(join(prodDir, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(prodDir, 'node_modules/typescript'))).toBe(false);
    const abi = process.versions.modules;
    expect(readdirSync(join(prodDir, 'node_modules/uWebSockets.js'), { recursive: true }).map(String)).toContain(
      join('binaries', `uws_linux_${process.arch}_${abi}.node`),
    );

    // The runtime stage: WORKDIR /app, then its COPY lines.
    mkdirSync(appDir, { recursive: true });
    const runtime = stageOf('runtime');
    const workdir = runtime.filter((s) => s.op === 'WORKDIR').at(-1)!.args;
    for (const step of runtime.filter((s) => s.op === 'COPY')) {
      const { from, sources, dest } = parseCopy(step.args);
      for (const src of sources) {
        const source = from === 'prod-deps' ? join(prodDir, posix.relative(workdir, src)) : from === 'build' ? rel(posix.relative(workdir, src)) : rel(src);
        expect(existsSync(source), `COPY ${step.args}`).toBe(true);
        cpSync(source, join(appDir, dest), { recursive: true, verbatimSymlinks: true });
      }
    }

    const entrypoint = JSON.parse(runtime.filter((s) => s.op === 'ENTRYPOINT').at(-1)!.args) as string[];
    const cmd = JSON.parse(runtime.filter((s) => s.op === 'CMD').at(-1)!.args) as string[];
    const argv = [...entrypoint.slice(entrypoint.indexOf('node') + 1), ...cmd].map((a) => (a.startsWith(`${workdir}/`) ? join(appDir, posix.relative(workdir, a)) : a));
    const port = await freePort();
    const output: string[] = [];
    const child = spawn(process.execPath, argv, {
      cwd: appDir,
      env: { PATH: process.env['PATH'] ?? '', PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr.on('data', (c: Buffer) => output.push(c.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${output.join('')}`);
          return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
        },
        { what: 'the image\'s entrypoint to serve /readyz', timeoutMs: 30_000 },
      );
      expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
      // The dashboard page comes from packages/dashboard/public, copied into the runtime stage.
      expect((await fetch(`http://127.0.0.1:${port}/`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, output.join('')).toBe(0);
  });
});
