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
  ChannelHandler,
  ChannelMessage,
  ChannelPosition,
  HistoryLimits,
  HistoryRequest,
  HistoryResult,
  TakeOver,
} from './engine.js';
export { publishesOf, DEFAULT_HISTORY_LIMITS } from './engine.js';
export { RedisEngine, createRedisClient, type RedisEngineOptions } from './redis/redis-engine.js';
export { MemoryEngine, type MemoryEngineOptions } from './memory/memory-engine.js';
export { encodeChannelPayload, decodeChannelPayload, historyResult } from './channel.js';
export { channelKeys, consumerAliveKey, type ChannelKeys } from './redis/keys.js';
export { createEngine } from './create.js';
