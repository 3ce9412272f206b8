import { runSuitesOn } from '../support/test-redis.js';

// The analytics suite, unchanged, on a local Redis Cluster (3 masters + 3 replicas).
runSuitesOn('cluster');
await import('./analytics-cluster.test.js');
