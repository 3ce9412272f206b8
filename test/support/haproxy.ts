import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** The HAProxy config shipped in deploy/, the one operators use. */
export const HAPROXY_CONFIG = fileURLToPath(new URL('../../deploy/haproxy/haproxy.cfg', import.meta.url));

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
    return proxy;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await exited;
  }
}
