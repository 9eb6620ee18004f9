/**
 * Public surface of @keyval/metrics: every Prometheus family KeyVal exports (etcd's names where
 * etcd has the concept, `keyval_*` otherwise), on a registry per process, fed by the observer
 * hooks the other libs define. See README.md for why the definitions live here.
 */
export { CounterCell, HistogramCell } from './cells';
export { CounterFamily, HistogramFamily, gaugeFamily, counterFamilyOf, exponentialBuckets, LABEL_SETS_MAX, type GaugeSample, type Labels } from './families';
export * from './buckets';
export { createProcessRegistry, METRICS_CONTENT_TYPE, type ProcessRegistryOptions } from './registry';
export { GrpcServerMetrics, GRPC_CODE_NAMES } from './grpc-server-metrics';
export { MemberMetrics } from './member-metrics';
export { GatewayMetrics } from './gateway-metrics';
