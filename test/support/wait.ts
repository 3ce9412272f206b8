import { until } from '../../scripts/lib/local.mjs';
/**
 * Polls `check` until it returns a truthy value or the deadline passes. Deadlines are generous:
 * tests must hold on a loaded 2-core machine.
 */
export function waitFor<T>(
  check: () => T | Promise<T>,
  { timeoutMs = 20_000, intervalMs = 50, what = 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<NonNullable<T>> {
  return until(what, check, { timeoutMs, intervalMs });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
