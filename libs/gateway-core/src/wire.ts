/**
 * The wire protocol the gateway shares with the members: metadata keys of the exactly-once
 * protocol, the leader hint trailer and etcd's error texts. They are defined by `@keyval/api`
 * (`kv-service.ts`, `error-status.ts`, `api.errors.ts`); the gateway keeps its own copy so it
 * does not load the member's code (Raft, RocksDB), and
 * `test/integration/gateway/gateway-wire.spec.ts` checks that both copies agree.
 */

/** Request metadata: the client id of an exactly-once session. */
export const CLIENT_ID_KEY = 'keyval-client-id';
/** Request metadata: the session's sequence number (a positive integer). */
export const SEQUENCE_KEY = 'keyval-seq';
/** Request metadata set by a member forwarding a write to its leader. Never sent by the gateway. */
export const FORWARDED_KEY = 'keyval-forwarded';
/** Trailer of a not-leader answer: the leader's member id in hex. */
export const LEADER_HINT_TRAILER = 'keyval-leader';

/** etcd's error texts (etcdserver/api/v3rpc/rpctypes) the gateway reads or answers with. */
export const ETCD_TEXT = {
  notLeader: 'etcdserver: not leader',
  noLeader: 'etcdserver: no leader',
  leaderChanged: 'etcdserver: leader changed',
  timeout: 'etcdserver: request timed out',
  tooManyRequests: 'etcdserver: too many requests',
  stopped: 'etcdserver: server stopped',
} as const;


/**
 * Metadata a client's call must not carry upstream: the forwarded mark belongs to members
 * (`grpc-*`, `content-type` and `te` are reserved and never metadata in the first place).
 */
export const HOP_METADATA_KEYS: readonly string[] = [FORWARDED_KEY];
