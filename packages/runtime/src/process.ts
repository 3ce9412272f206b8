import pino, { type Logger } from 'pino';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import { prettyDestination, resolveLogFormat, type LogFormat } from './log-format.js';

export interface ProcessBootstrap {
  logger: Logger;
  registry: Registry;
}

/**
 * The logger and metrics registry every process starts with: pino logs carrying the node and
 * role (JSON, or readable lines for a person at a terminal: see `LogFormat`), Node's default
 * metrics, and a guard that logs and counts promise rejections nobody handled instead of dying
 * of them (a library callback or a forgotten promise may leave one). An uncaught exception
 * still ends the process: its state is unknown.
 */
export function bootstrapProcess(options: { level: string; node: string; role: string; format?: LogFormat }): ProcessBootstrap {
  const pretty = resolveLogFormat(options.format ?? 'json', process.stdout.isTTY === true) === 'pretty';
  const base = { level: options.level, base: { node: options.node, role: options.role } };
  const logger = pretty ? pino(base, prettyDestination()) : pino(base);
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
