import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          // In-process only (memory engine, port 0, fake timers): no redis-server needed.
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'test/deploy/**/*.test.ts', 'bench/test/**/*.test.ts'],
          // Deploy checks that start real processes (redis-server, RabbitMQ) and the engine
          // contract suite (a real redis-server as well as memory) run with the cluster tests.
          exclude: ['**/node_modules/**', 'test/deploy/**/*.cluster.test.ts', 'packages/engine/test/contract.test.ts', 'packages/engine/test/presence.test.ts'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/integration/**/*.test.ts', 'test/fuzz/**/*.test.ts', 'test/deploy/**/*.cluster.test.ts', 'packages/engine/test/contract.test.ts', 'packages/engine/test/presence.test.ts'],
          // Real processes on a 2-core machine: generous deadlines, one file at a time.
          testTimeout: 90_000,
          hookTimeout: 90_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
