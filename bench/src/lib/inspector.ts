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
  const targets = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (url === undefined) throw new Error(`no inspector target on port ${inspectPort}`);
  const ws = new WebSocket(url);
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
  const call = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((resolve, reject) => {
      const n = ++id;
      pending.set(n, { resolve, reject });
      ws.send(JSON.stringify({ id: n, method, params }));
    });
  try {
    // Twice: objects with finalizers or weak references are freed by the second collection.
    await call('HeapProfiler.collectGarbage');
    await call('HeapProfiler.collectGarbage');
    const result = (await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(result.result.value) as MemoryUsage;
  } finally {
    ws.close();
  }
}
