// Helpers for the local processes that scripts, tests and benchmarks start on this machine: one
// way to pick a free port and one way to wait for something to come up.
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check` until it returns something truthy, and returns that; a throw or a falsy result
 * means "not yet". Fails after `timeoutMs`, naming `what` and the last error; stops at once when
 * `shouldStop()` turns true. Deadlines are generous: everything must hold on a loaded machine.
 */
export async function until(what, check, { timeoutMs = 120_000, intervalMs = 100, shouldStop = () => false } = {}) {
  const deadline = Date.now() + timeoutMs;
  let lastError;
  for (;;) {
    if (shouldStop()) throw new Error(`stopped while waiting for ${what}`);
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const suffix = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${suffix}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
