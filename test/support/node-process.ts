import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const CLI = fileURLToPath(new URL('../../packages/cli/dist/main.js', import.meta.url));

export type Role = 'all' | 'gateway' | 'worker' | 'bridge';

/**
 * A real `switchboard <role>` process on a free port. Its output is kept so a failing test can
 * show it; `exited` settles when the process ends.
 */
export class NodeProcess {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(
    readonly role: Role,
    readonly port: number,
    readonly nodeId: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      if (this.output.length > 2_000) this.output.splice(0, this.output.length - 2_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  wsUrl(path: string): string {
    return `ws://127.0.0.1:${this.port}${path}`;
  }

  /** Spawns the process; waits for `/readyz` unless told not to. */
  static async start(role: Role, env: Record<string, string>, { waitReady = true } = {}): Promise<NodeProcess> {
    const port = env['PORT'] !== undefined ? Number(env['PORT']) : await freePort();
    const nodeId = env['NODE_ID'] ?? `${role}-${port}`;
    const child = spawn(process.execPath, [CLI, role], {
      env: {
        PATH: process.env['PATH'] ?? '',
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        ...env,
        PORT: String(port),
        NODE_ID: nodeId,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const node = new NodeProcess(role, port, nodeId, child);
    if (waitReady) await node.waitReady();
    return node;
  }

  async waitReady(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        if (this.child.exitCode !== null) throw new Error(`${this.nodeId} exited: ${this.output.slice(-5).join(' | ')}`);
        const res = await fetch(`${this.url}/readyz`);
        return res.status === 200;
      },
      { timeoutMs, what: `${this.nodeId} ready` },
    );
  }

  async json<T = Record<string, unknown>>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`);
    return (await res.json()) as T;
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.url}/metrics`)).text();
  }

  /** Sends a signal and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

/** A metric sample's value from Prometheus text, e.g. `metricValue(text, 'x_total{kind="a"}')`. */
export function metricValue(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}
