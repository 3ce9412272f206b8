import { runSuitesOn } from '../support/test-redis.js';

// The Socket.IO suite (error monitor, job monitor, rooms across gateways, HAProxy), unchanged, on a local Redis Cluster (3 masters + 3 replicas).
runSuitesOn('cluster');
await import('./socketio-cluster.test.js');
