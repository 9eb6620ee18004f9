/**
 * Histogram buckets. etcd's are etcd 3.4's own (checked against a live etcd 3.4 in
 * test/integration/metrics-etcd-compat.spec.ts), so its dashboards' quantiles read the same.
 */
import { exponentialBuckets } from './families';

/** etcd_disk_wal_fsync_duration_seconds and etcd_disk_backend_commit_duration_seconds: 1 ms to 8 s. */
export const ETCD_DISK_BUCKETS = exponentialBuckets(0.001, 2, 14);
/** etcd_network_peer_round_trip_time_seconds: 0.1 ms to 3.3 s. */
export const ETCD_PEER_RTT_BUCKETS = exponentialBuckets(0.0001, 2, 16);
/** grpc_server_handling_seconds: Prometheus' default buckets, as go-grpc-prometheus uses. */
export const GRPC_HANDLING_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** KeyVal's latencies (commit, apply, upstream calls): 0.1 ms to 6.5 s, finer than etcd's at the low end. */
export const LATENCY_BUCKETS = exponentialBuckets(0.0001, 2, 17);
/** Batch sizes (entries applied at once, writes per gateway batch): 1 to 4096. */
export const BATCH_SIZE_BUCKETS = exponentialBuckets(1, 2, 13);
/** Snapshot durations: 10 ms to 164 s. */
export const SNAPSHOT_DURATION_BUCKETS = exponentialBuckets(0.01, 2, 15);
