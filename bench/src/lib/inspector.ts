import WebSocket from 'ws';

/** What `process.memoryUsage()` reports, in bytes. */
export interface MemoryUsage {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

/**
 * The memory of a Node.js process started with `--inspect=127.0.0.1:<port>`, read after full
 * garbage collections (through the inspector: the process runs no code of the bench's). RSS read
 * from outside at a random moment moves with the collector by more than a few thousand idle
 * connections take, and can even fall while they connect.
 */
export async function memoryAfterGc(inspectPort: number): Promise<MemoryUsage> {
  const session = await inspectorSession(inspectPort);
  try {
    // Twice: objects with finalizers or weak references are freed by the second collection.
    await session.call('HeapProfiler.collectGarbage');
    await session.call('HeapProfiler.collectGarbage');
    const result = (await session.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(result.result.value) as MemoryUsage;
  } finally {
    session.close();
  }
}

/** A DevTools protocol session with a Node.js process started with `--inspect`. */
export interface InspectorSession {
  call(method: string, params?: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

export async function inspectorSession(inspectPort: number): Promise<InspectorSession> {
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspectPort}`);
  const ws = new WebSocket(url, { maxPayload: 1024 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map<number, { resolve(result: unknown): void; reject(err: Error): void }>();
  ws.on('message', (data: Buffer) => {
    const reply = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = reply.id === undefined ? undefined : pending.get(reply.id);
    if (waiter === undefined) return;
    pending.delete(reply.id!);
    if (reply.error) waiter.reject(new Error(reply.error.message));
    else waiter.resolve(reply.result);
  });
  return {
    call: (method, params = {}) =>
      new Promise<unknown>((resolve, reject) => {
        const n = ++id;
        pending.set(n, { resolve, reject });
        ws.send(JSON.stringify({ id: n, method, params }));
      }),
    close: () => ws.close(),
  };
}

/** A CPU profile as DevTools writes it (`.cpuprofile`). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
}

/** Profiles what `work` makes the process do (sampling every `intervalUs`). */
export async function profiled(inspectPort: number, work: () => Promise<void>, intervalUs = 500): Promise<CpuProfile> {
  const session = await inspectorSession(inspectPort);
  try {
    await session.call('Profiler.enable');
    await session.call('Profiler.setSamplingInterval', { interval: intervalUs });
    await session.call('Profiler.start');
    const failed = await work().then(
      () => undefined,
      (err: unknown) => ({ err }),
    );
    const { profile } = (await session.call('Profiler.stop')) as { profile: CpuProfile };
    if (failed !== undefined) throw failed.err;
    return profile;
  } finally {
    session.close();
  }
}
