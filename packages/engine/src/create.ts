import type { Logger } from 'pino';
import type { Engine, HistoryLimits } from './engine.js';
import { MemoryEngine } from './memory/memory-engine.js';
import { RedisEngine } from './redis/redis-engine.js';

/** Redis when a URL is given, otherwise the in-memory engine (one process only). */
export function createEngine(redisUrl: string | undefined, logger: Logger, history?: HistoryLimits): Engine {
  return redisUrl === undefined ? new MemoryEngine({ history }) : new RedisEngine({ url: redisUrl, logger, history });
}
