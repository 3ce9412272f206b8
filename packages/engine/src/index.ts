export type {
  Engine,
  EngineHealth,
  Commit,
  CommitGuard,
  CommitResult,
  Publish,
  StoreOp,
  StringRead,
  StoreRead,
  StreamEntry,
  IngestBacklog,
  IngestOnce,
  AppendOnceResult,
} from './engine.js';
export { publishesOf } from './engine.js';
export { RedisEngine, createRedisClient, type RedisEngineOptions } from './redis/redis-engine.js';
export { MemoryEngine } from './memory/memory-engine.js';
export { createEngine } from './create.js';
