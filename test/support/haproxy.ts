import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** The HAProxy config shipped in deploy/, the one operators use. */
export const HAPROXY_CONFIG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

/**
 * How long HAProxy takes to mark a failing gateway DOWN: `fall` failed checks `inter` apart, as
 * the shipped config sets them (`default-server ... inter 1s fall 2`).
 */
export function checkWindowMs(config = readFileSync(HAPROXY_CONFIG, 'utf8')): number {
  const line = /^\s*default-server\s.*$/m.exec(config)?.[0] ?? '';
  const inter = /\binter (\d+)(ms|s)\b/.exec(line);
  const fall = /\bfall (\d+)\b/.exec(line);
  if (!inter || !fall) throw new Error('haproxy.cfg: no "default-server ... inter N fall N" line');
  return Number(inter[1]) * (inter[2] === 's' ? 1000 : 1) * Number(fall[1]);
}

/**
 * Requests through `front` keep reaching every one of `nodes` gateways for three times the
 * check window: passing health checks are what keep them in rotation (servers start UP, so a
 * check that can never pass shows only once the window is over).
 */
export async function expectFrontStaysUp(front: string, nodes: number, windowMs = checkWindowMs()): Promise<void> {
  const until = Date.now() + 3 * windowMs;
  let seen = new Set<string>();
  while (Date.now() < until) {
    const res = await fetch(`${front}/health`);
    if (res.status !== 200) throw new Error(`front answered ${res.status} ${Date.now() + 3 * windowMs - until} ms in: ${await res.text()}`);
    seen.add(((await res.json()) as { node: string }).node);
    if (seen.size === nodes) seen = new Set();
    await new Promise((r) => setTimeout(r, 100));
  }
  // The last round must have reached every gateway too.
  await waitFor(
    async () => {
      const res = await fetch(`${front}/health`);
      if (res.status === 200) seen.add(((await res.json()) as { node: string }).node);
      return seen.size === nodes;
    },
    { what: `every gateway through ${front}`, timeoutMs: 10_000 },
  );
}

/** A real HAProxy (foreground) in front of two gateways, with the shipped sticky-session config. */
export class Haproxy {
  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
    readonly output: string[],
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(gateway1: number, gateway2: number): Promise<Haproxy> {
    const port = await freePort();
    const child = spawn('haproxy', ['-db', '-f', HAPROXY_CONFIG], {
      env: {
        PATH: process.env['PATH'] ?? '',
        SWITCHBOARD_LISTEN: `127.0.0.1:${port}`,
        SWITCHBOARD_GATEWAY_1: `127.0.0.1:${gateway1}`,
        SWITCHBOARD_GATEWAY_2: `127.0.0.1:${gateway2}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stdout?.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr?.on('data', (c: Buffer) => output.push(c.toString()));
    const proxy = new Haproxy(port, child, output);
    // Ready once both backends answer through it (round robin alternates between them).
    const seen = new Set<string>();
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited: ${output.join('')}`);
        const res = await fetch(`${proxy.url}/health`);
        if (res.status === 200) seen.add(((await res.json()) as { node: string }).node);
        return seen.size === 2;
      },
      { what: 'haproxy with both gateways up' },
    );
    await expectFrontStaysUp(proxy.url, 2);
    return proxy;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
