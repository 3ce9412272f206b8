export { createWorker, type Worker, type WorkerDeps } from './worker.js';
export { startWorkerHttp, type WorkerHttp } from './http.js';
export { startOpsHttp, type OpsHttp, type OpsHttpOptions } from './ops-http.js';
