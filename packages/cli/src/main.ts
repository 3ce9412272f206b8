#!/usr/bin/env node
import { Command, Argument } from 'commander';
import { ConfigError, loadConfig, type Config } from '@switchboard/config';
import { createEngine } from '@switchboard/engine';
import { bootstrapProcess } from '@switchboard/runtime';
import { ROLES, startRole, type Role, type RunningRole } from './roles.js';
import { describeStartupError } from './startup-errors.js';

/** sysexits EX_CONFIG: the process refuses to start on bad configuration. */
const EXIT_CONFIG = 78;
/** sysexits EX_UNAVAILABLE: a service it needs (Redis, the port) is not available. */
const EXIT_UNAVAILABLE = 69;

/** The environment, validated for this role; on problems, one line each and exit. */
function readConfig(role: Role): Config {
  try {
    return loadConfig(process.env, { role });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const { variable, reason } of err.problems) process.stderr.write(`switchboard: invalid configuration: ${variable}: ${reason}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw err;
  }
}

async function run(role: Role): Promise<void> {
  const config = readConfig(role);
  // Logs and counts unhandled rejections instead of dying of them (docs/architecture.md#libraries-and-their-pitfalls).
  const { logger, registry } = bootstrapProcess({ level: config.logLevel, node: config.nodeId, role, format: config.logFormat });

  const engine = createEngine(config, logger, { size: config.historySize, ttlS: config.historyTtlS });
  let running: RunningRole;
  try {
    logger.info({ engine: engine.kind }, 'connecting engine');
    await engine.connect();
    running = await startRole(role, { config, engine, logger, registry });
  } catch (err) {
    // One line an operator can act on ("cannot reach Redis at ...", "port 8080 is already in use ...").
    process.stderr.write(`switchboard: ${await describeStartupError(err, config)}\n`);
    process.exit(EXIT_UNAVAILABLE);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out: exiting');
      process.exit(1);
    }, config.drainDelayMs + config.shutdownTimeoutMs + 2_000);
    force.unref();
    running
      .shutdown()
      .then(() => engine.close())
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

const program = new Command()
  .name('switchboard')
  .description('Switchboard realtime cluster. Configured only by environment variables (docs/configuration.md).')
  .addArgument(new Argument('<role>', 'what this process runs').choices(ROLES))
  .addHelpText(
    'after',
    `
Roles:
  all      gateway and worker in one process (REDIS_URL unset: in-memory engine), and the
           bridge when RABBITMQ_URL is set
  gateway  WebSocket endpoints, HTTP ingest, /health, /metrics (needs REDIS_URL or REDIS_CLUSTER_NODES)
  worker   ingest consumer, statistics, heartbeat, publishing (needs REDIS_URL or REDIS_CLUSTER_NODES)
  bridge   RabbitMQ tour.availability.low → ingest (needs REDIS_URL or REDIS_CLUSTER_NODES, and RABBITMQ_URL)

Example:
  REDIS_URL=redis://127.0.0.1:6379 PORT=8081 switchboard gateway`,
  )
  .action(async (role: Role) => {
    await run(role);
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`switchboard: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
