// Public surface of @keyval/cluster: the async drivers around the pure core.
export * from './transport/transport';
export * from './transport/message-codec';
export * from './transport/grpc-transport';
export { DEFAULT_PEER_SENDER_LIMITS, type PeerSenderLimits } from './transport/peer-sender';
export * from './transport/memory-transport';
export * from './driver/clock';
export * from './driver/driver.errors';
export * from './driver/raft-driver';
export * from './member/member-options';
export * from './member/member-identity';
export * from './member/state-machine-adapters';
export * from './member/kv-member';
export * from './member/membership-manager';
export * from './member/disk-usage';
export * from './member/member-status';
export * from './member/member-admin';
export * from './member/restore';
export * from './member/data-dir-lock';
