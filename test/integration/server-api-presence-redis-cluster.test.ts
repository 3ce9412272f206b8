import { runSuitesOn } from '../support/test-redis.js';

// The presence suite, unchanged, on a local Redis Cluster (3 masters + 3 replicas): each channel's
// presence on its own shard, the occupied-channel list on its own slot.
runSuitesOn('cluster');
await import('./server-api-presence.test.js');
