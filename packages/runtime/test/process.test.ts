import { afterEach, describe, expect, it } from 'vitest';
import { bootstrapProcess } from '../src/process.js';

describe('bootstrapProcess', () => {
  const before = {
    unhandledRejection: process.listeners('unhandledRejection'),
    uncaughtException: process.listeners('uncaughtException'),
  };
  afterEach(() => {
    // Leave the test runner's own handlers, and only those.
    for (const listener of process.listeners('unhandledRejection')) {
      if (!before.unhandledRejection.includes(listener)) process.off('unhandledRejection', listener);
    }
    for (const listener of process.listeners('uncaughtException')) {
      if (!before.uncaughtException.includes(listener)) process.off('uncaughtException', listener);
    }
  });

  it('gives a logger carrying node and role, and a registry with the default metrics', async () => {
    const { logger, registry } = bootstrapProcess({ level: 'silent', node: 'n1', role: 'worker' });
    expect(logger.level).toBe('silent');
    expect(logger.bindings()).toMatchObject({ node: 'n1', role: 'worker' });
    const text = await registry.metrics();
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('switchboard_unhandled_rejections_total 0');
  });

  it('counts an unhandled rejection instead of dying of it', async () => {
    const { registry } = bootstrapProcess({ level: 'silent', node: 'n1', role: 'gateway' });
    const added = process.listeners('unhandledRejection').filter((l) => !before.unhandledRejection.includes(l));
    expect(added).toHaveLength(1);
    // Call the handler directly: emitting the event would reach the test runner's handler too.
    added[0]!(new Error('nobody caught me'), Promise.resolve());
    added[0]!('a string reason', Promise.resolve());
    expect(await registry.metrics()).toContain('switchboard_unhandled_rejections_total 2');
  });
});
