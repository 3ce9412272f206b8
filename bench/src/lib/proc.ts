import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort, until as waitUntil } from '../../../scripts/lib/local.mjs';

/** The `switchboard` command (built by `npm run build`). */
export const SWITCHBOARD_CLI = fileURLToPath(new URL('../../../packages/cli/dist/main.js', import.meta.url));
/** Compiled baseline servers live next to this file's folder. */
export const serverScript = (name: string): string => fileURLToPath(new URL(`../servers/${name}.js`, import.meta.url));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { freePort };

/** Polls until `check` resolves truthy; a throw or falsy result means "not yet". */
export async function until(check: () => Promise<unknown>, what: string, timeoutMs = 30_000): Promise<void> {
  await waitUntil(what, check, { timeoutMs, intervalMs: 50 });
}

/** Resident set size of a process in bytes (Linux /proc), 0 once it is gone. */
export function rssBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far (Linux /proc), 0 once it is gone. */
export function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** CPU use of groups of processes between `start()` and `stop()`, as % of one core. */
export class CpuMeter {
  private t0 = 0;
  private base: number[][] = [];
  constructor(private readonly groups: Record<string, (number | undefined)[]>) {}
  start(): void {
    this.t0 = performance.now();
    this.base = Object.values(this.groups).map((pids) => pids.map(cpuSeconds));
  }
  stop(): Record<string, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    const out: Record<string, number> = {};
    Object.entries(this.groups).forEach(([name, pids], g) => {
      const base = this.base[g] ?? [];
      const used = pids.reduce<number>((n, pid, i) => n + cpuSeconds(pid) - (base[i] ?? 0), 0);
      out[name] = Math.round((used / seconds) * 100);
    });
    return out;
  }
}

/** A child process the harness owns; the last lines of its output are kept for error messages. */
export class Proc {
  private readonly tail: string[] = [];
  readonly exited: Promise<void>;
  /** The Node.js inspector's port (loopback), for processes started by `startNode`. */
  inspectPort: number | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const keep = (chunk: Buffer) => {
      this.tail.push(...chunk.toString().split('\n').filter(Boolean));
      if (this.tail.length > 50) this.tail.splice(0, this.tail.length - 50);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.tail.slice(-8).join(' | ');
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

export function startProc(name: string, command: string, args: string[], env: Record<string, string> = {}): Proc {
  const child = spawn(command, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc(name, child);
}

/** GET `url` answers 200 (the process may still be starting: errors mean "not yet"). */
export async function waitHttpOk(proc: Proc, url: string, timeoutMs = 30_000): Promise<void> {
  await until(
    async () => {
      if (!proc.running) throw new Error(`${proc.name} exited: ${proc.output()}`);
      return (await fetch(url)).status === 200;
    },
    `${proc.name} at ${url}`,
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; ${proc.name} said: ${proc.output()}`);
  });
}

/** A private, empty, non-persistent redis-server on a free port. */
export async function startRedis(): Promise<{ url: string; proc: Proc }> {
  const port = await freePort();
  const proc = startProc('redis-server', 'redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--maxclients', '1000',
  ]);
  const { Redis } = await import('ioredis');
  const url = `redis://127.0.0.1:${port}`;
  // ioredis retries until the server listens; `ready` means it answered.
  const probe = new Redis(url, { retryStrategy: (attempt) => (attempt > 600 ? null : 50), maxRetriesPerRequest: null });
  probe.on('error', () => undefined);
  try {
    await Promise.race([
      new Promise((resolve) => probe.once('ready', resolve)),
      proc.exited.then(() => {
        throw new Error(`redis-server exited: ${proc.output()}`);
      }),
    ]);
  } finally {
    probe.disconnect();
  }
  return { url, proc };
}

export interface NodeOptions {
  /** Extra flags for `node` (e.g. `--cpu-prof`). */
  execArgv?: string[];
  /** Listen on this port (a restart keeps its address); default: a free one. */
  port?: number;
}

/** A Node.js process running `script` with PORT set; ready once `readyPath` answers 200. */
export async function startNode(
  name: string,
  script: string,
  args: string[],
  env: Record<string, string>,
  readyPath: string,
  options: NodeOptions = {},
): Promise<{ proc: Proc; port: number }> {
  const port = options.port ?? (await freePort());
  // The inspector (loopback only) lets the capacity scenario collect garbage before reading memory.
  const inspectPort = await freePort();
  const execArgv = [...(options.execArgv ?? []), `--inspect=127.0.0.1:${inspectPort}`];
  const proc = startProc(name, process.execPath, [...execArgv, script, ...args], { ...env, PORT: String(port) });
  proc.inspectPort = inspectPort;
  await waitHttpOk(proc, `http://127.0.0.1:${port}${readyPath}`);
  return { proc, port };
}
