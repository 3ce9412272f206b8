import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';

export interface ProcessBootstrap {
  logger: Logger;
  registry: Registry;
}

/**
 * The logger and metrics registry every process starts with: pino JSON logs carrying the node
 * and role, Node's default metrics, and a guard that logs and counts promise rejections nobody
 * handled instead of dying of them (the Socket.IO Redis adapter and other libraries may leave
 * one). An uncaught exception still ends the process: its state is unknown.
 */
export function bootstrapProcess(options: { level: string; node: string; role: string }): ProcessBootstrap {
  const logger = pino({ level: options.level, base: { node: options.node, role: options.role } });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const unhandled = new Counter({
    name: 'switchboard_unhandled_rejections_total',
    help: 'Promise rejections nobody handled (logged; each is a bug to fix).',
    registers: [registry],
  });
  process.on('unhandledRejection', (reason) => {
    unhandled.inc();
    logger.error({ err: reason }, 'unhandled promise rejection');
  });
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception: exiting');
    process.exit(1);
  });
  return { logger, registry };
}
