import { runSuitesOn } from '../support/test-redis.js';

// The server API suite, unchanged, on a local Redis Cluster (3 masters + 3 replicas): the
// dead-letter stream lives on its own slot, channels under their partitions' tags.
runSuitesOn('cluster');
await import('./server-api.test.js');
