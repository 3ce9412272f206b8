import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Engine } from '@switchboard/engine';
import { startOpsHttp, type OpsHttp } from '@switchboard/runtime';
import type { RabbitBridge } from './bridge.js';

/**
 * The bridge role's HTTP: `/health` (with `rabbitmq` and `redis`), `/livez`, `/readyz` (503
 * while the broker or Redis is unreachable, or draining), `/metrics`.
 */
export function startBridgeHttp(opts: {
  host: string;
  port: number;
  nodeId: string;
  queue: string;
  engine: Engine;
  bridge: RabbitBridge;
  registry: Registry;
  logger: Logger;
}): Promise<OpsHttp> {
  const { engine, bridge, nodeId, queue } = opts;
  const rabbitmq = () => (bridge.connected ? 'up' : 'down');
  return startOpsHttp({
    ...opts,
    health: () => ({ service: 'bridge', node: nodeId, queue, rabbitmq: rabbitmq(), redis: engine.health() }),
    readiness: () => ({
      ready: bridge.connected && engine.health() !== 'down',
      details: { rabbitmq: rabbitmq(), redis: engine.health() },
    }),
  });
}
