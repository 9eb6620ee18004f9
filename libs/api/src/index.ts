// Public surface of @keyval/api: the etcd v3 API's validation, conversions and status mapping.
export * from './api.errors';
export * from './etcd-request';
export * from './etcd-response';
export * from './error-status';
export * from './kv-service';
export * from './leader-forwarder';
export * from './kv-batch-service';
export * from './watch/watch-hub';
export * from './watch/watch-encoder';
export * from './watch/watch-stream';
export * from './watch/watch-service';
export * from './leader-calls';
export * from './lease-service';
export * from './alarm-service';
export * from './concurrency/concurrency-client';
export * from './concurrency/lock-service';
export * from './concurrency/election-service';
