import { Gauge, type Registry } from 'prom-client';
import type { Lifecycle } from '@switchboard/engine';

/**
 * `switchboard_redis_up`, read from the engine at each scrape: 1 while this process's Redis
 * connections are ready, 0 while not. Not registered on the in-memory engine (no Redis to lose).
 */
export function registerRedisUp(registry: Registry, engine: Pick<Lifecycle, 'kind' | 'health'>): void {
  if (engine.kind !== 'redis') return;
  new Gauge({
    name: 'switchboard_redis_up',
    help: '1 while this process is connected to Redis, 0 while it is not.',
    registers: [registry],
    collect() {
      this.set(engine.health() === 'up' ? 1 : 0);
    },
  });
}
