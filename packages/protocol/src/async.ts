/**
 * Settles like `promise`, or with `fallback` once `ms` passed if it has not settled by then;
 * the timer is cleared either way, so nothing is left to keep the process alive. A rejection of
 * `promise` before the deadline rejects the result. For waits that must not hold a shutdown or
 * a client for ever (a Redis outage, a broker that stopped answering).
 */
export function withTimeout<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
