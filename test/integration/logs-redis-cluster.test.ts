import { runSuitesOn } from '../support/test-redis.js';

// The logs suite (/ws/logs, POST /logs, history, clear, metrics), unchanged, on a local Redis Cluster (3 masters + 3 replicas).
runSuitesOn('cluster');
await import('./logs-cluster.test.js');
