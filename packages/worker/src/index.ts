export { createWorker, type Worker, type WorkerDeps } from './worker.js';
export { startWorkerHttp, type WorkerHttp } from './http.js';
