import { runSuitesOn } from '../support/test-redis.js';

// Resume by epoch and offset on every raw endpoint, the same suite, on a local Redis Cluster
// (3 masters + 3 replicas): channels, their offsets, epochs and history live on their shards.
runSuitesOn('cluster');
await import('./raw-resume.test.js');
