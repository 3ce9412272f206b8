export { OpsRoutes, OPS_ALLOW, OPS_PATHS, methodNotAllowed, type OpsAnswer, type OpsPath, type OpsRoutesOptions } from './ops/routes.js';
export { startOpsHttp, type OpsHttp, type OpsHttpOptions } from './ops/node-http.js';
export { mountOpsRoutes, type UwsApp, type UwsResponse } from './ops/uws.js';
export { bootstrapProcess, type ProcessBootstrap } from './process.js';
export { MachineSampler } from './node-sample.js';
export { NodeReporter, type NodeReporterOptions } from './node-reporter.js';
export { Leadership, type LeaderTask, type LeadershipOptions } from './leadership.js';
export { SlotScheduler, slotGuard, slotOf } from './slots.js';
export { backoffDelay, pause, retry, type BackoffOptions, type RetryOptions } from './retry.js';
