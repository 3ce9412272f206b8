export { analyticsEventOps, expireRecentVisitorsOp, readAnalyticsStats } from './analytics-stats.js';
export {
  LOG_RATE_WINDOW_S,
  appendLogHistoryOps,
  clearLogHistoryOps,
  logRateOps,
  readLogHistory,
  readLogRates,
} from './log-history.js';
export { aggregateReports, nodeReportOps, pruneNodeReportsOp, readClusterMetrics, readNodeReports, reportLifetimeMs } from './cluster-metrics.js';
