export type {
  Engine,
  Lifecycle,
  IngestQueue,
  IntakeQueue,
  IntakeForward,
  Store,
  Channels,
  Leases,
  CommitOutcome,
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
  RedisNodeRole,
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
export { validateCommit, commitEach } from './commit-rules.js';
export {
  RedisEngine,
  createRedisClient,
  createClusterClient,
  DEFAULT_INGEST_PARTITIONS,
  type ClusterNode,
  type RedisEngineOptions,
} from './redis/redis-engine.js';
export { clusterTopology, keySlot, partitionTags } from './redis/topology.js';
export { MemoryEngine, type MemoryEngineOptions } from './memory/memory-engine.js';
export { encodeChannelPayload, decodeChannelPayload, historyResult } from './channel.js';
export { channelKeys, consumerAliveKey, type ChannelKeys } from './redis/keys.js';
export { createEngine, type EngineTarget } from './create.js';
export {
  requeueDeadLetter,
  isDeadLetterId,
  type DeadLetter,
  type DeadLetterPage,
  type DeadLetters,
  type RequeueResult,
} from './dead-letters.js';
export {
  JsonText,
  PresencePage,
  presenceUserKey,
  type ChannelOccupancy,
  type Occupancy,
  type Presence,
  type PresenceEntry,
  type PresenceMember,
} from './presence.js';
