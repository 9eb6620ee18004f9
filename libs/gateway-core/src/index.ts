/**
 * Public surface of @keyval/gateway-core: the gateway's routing, leader discovery, retries
 * and exactly-once sessions, with no Nest in sight (`apps/gateway` is the thin adapter).
 */
export { Gateway, type GatewayOptions, type GatewayStats } from './gateway';
export type { GatewayObserver, RetryReason, UpstreamObserver } from './gateway-observer';
export * from './gateway.errors';
export { Forwarder, type ForwarderOptions, type ForwarderStats } from './forwarder';
export { MemberDirectory, type GatewayLogger, type MemberDirectoryOptions, type Upstream } from './member-directory';
export { authorityOf, diffMembers, membersFromList, type MemberInfo } from './member-list';
export { chooseLeader, type LeaderChoice, type Observation } from './leader-choice';
export { SessionPool, WriteSession, type SessionPoolOptions } from './session-pool';
export { UpstreamPool, type UpstreamPoolOptions } from './upstream-pool';
export { WriteBatcher, DEFAULT_WRITE_BATCHING, batchedMethod, type WriteBatchingOptions, type BatchedWrite, type BatchedWriteSink } from './write-batcher';
export { classifyFailure, mayRetry, backoffMs, type FailureClass } from './retry-policy';
export { routeOf, PASSTHROUGH_SERVICES, type Route, type RouteKind } from './routes';
export { RAW_CODEC, rawService, rangeIsSerializable } from './raw-codec';
export * from './wire';
export { installLeanAsyncResourceBind } from '@keyval/grpc';
