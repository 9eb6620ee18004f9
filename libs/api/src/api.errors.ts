/**
 * Client-facing errors of the etcd API, each with its gRPC status. Where etcd has a message
 * for the condition, we use etcd's exact text (clients such as clientv3 map errors by it) and
 * add our detail after it where that helps.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { REASONS } from '@keyval/outcome';
import type { Outcome } from '@keyval/outcome';

/** etcd's message strings (etcdserver/api/v3rpc/rpctypes), the ones we answer with. */
export const ETCD_MESSAGES = {
  emptyKey: 'etcdserver: key is not provided',
  valueProvided: 'etcdserver: value is provided',
  tooManyOps: 'etcdserver: too many operations in txn request',
  duplicateKey: 'etcdserver: duplicate key given in txn request',
  requestTooLarge: 'etcdserver: request is too large',
  futureRevision: 'etcdserver: mvcc: required revision is a future revision',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  notLeader: 'etcdserver: not leader',
  noLeader: 'etcdserver: no leader',
  leaderChanged: 'etcdserver: leader changed',
  timeout: 'etcdserver: request timed out',
  stopped: 'etcdserver: server stopped',
  keyNotFound: 'etcdserver: key not found',
  tooManyRequests: 'etcdserver: too many requests',
  noSpace: 'etcdserver: mvcc: database space exceeded',
  leaseProvided: 'etcdserver: lease is provided',
  leaseNotFound: 'etcdserver: requested lease not found',
  leaseExists: 'etcdserver: lease already exists',
  leaseTtlTooLarge: 'etcdserver: too large lease TTL',
} as const;

/**
 * A follower could not reach the leader it forwards to, and the request certainly never left
 * (the connection was refused or never established, or the leader refused the stream). The
 * request may be sent again: typically the leader just died and an election is under way.
 */
export class LeaderUnreachableError extends Error {
  readonly code = REASONS.noLeader;
  /** Of the forward: the request never reached the leader (for the client: not applied). */
  readonly outcome: Outcome = 'never-sent';
  constructor(
    /** Hex id of the leader the follower believed in. */
    readonly leader: string,
    readonly url: string,
    cause: unknown,
  ) {
    super(`leader ${leader} at ${url} is unreachable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'LeaderUnreachableError';
  }
}

export function invalidArgument(message: string): GrpcStatusError {
  return new GrpcStatusError(GrpcStatus.INVALID_ARGUMENT, message);
}

export function unimplemented(message: string): GrpcStatusError {
  return new GrpcStatusError(GrpcStatus.UNIMPLEMENTED, message);
}
