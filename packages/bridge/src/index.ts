export { RabbitBridge, type BridgeOptions } from './bridge.js';
export { createBridgeMetrics, type BridgeMetrics } from './metrics.js';
export { decodeAvailabilityMessage, forwardAvailability, type ForwardDedupe } from './forward.js';
export { startBridgeHttp } from './http.js';
