/**
 * Maps every named error of the libs to the gRPC status a client sees — the one place where
 * that happens (STYLE.md: map errors only at the edges). Unknown errors become INTERNAL and
 * are reported as bugs by the caller.
 *
 * Every status carries what became of the call as trailers (`keyval-outcome`, and
 * `keyval-reason` where a caller acts on the reason: not leader, no leader, leader changed,
 * a refused session), read back by `outcomeOf` (@keyval/outcome) in the forwarder, the gateway
 * and kvctl. The message text is for people only.
 */
import { GrpcStatus, GrpcStatusError, withOutcomeTrailers } from '@keyval/grpc';
import { DETAIL_TRAILER, REASONS, hasOutcome, outcomeOf, outcomeOfStatusCode, outcomeTrailers } from '@keyval/outcome';
import {
  ConfChangeRefusedError,
  LeaderTransferInProgressError,
  NotLeaderError,
  ProposalDroppedError,
  ProposalTooLargeError,
  TransferRefusedError,
} from '@keyval/raft';
import {
  CommandLimitError,
  CommandRejectedError,
  CompactedError,
  FutureRevisionError,
  LeaseExistsError,
  LeaseNotFoundError,
  KeyNotFoundError,
  MalformedCommandError,
  NoSpaceError,
  RangeTooLargeError,
  ResponseNotRetainedError,
  SessionExpiredError,
  StaleSequenceError,
} from '@keyval/statemachine';
import {
  DeadlineExceededError,
  LeaderTransferTimeoutError,
  MemberStoppedError,
  MembershipRefusedError,
  ProposalLostError,
  ReadNotConfirmedError,
  ResourceExhaustedError,
} from '@keyval/cluster';
import type { MembershipRefusal } from '@keyval/cluster';
import { ETCD_MESSAGES, LeaderUnreachableError } from './api.errors';

/**
 * etcd's texts for refused cluster changes (etcdserver/api/v3rpc/rpctypes), so etcd clients
 * recognise them. Our reason follows the text after ": ".
 */
export const ETCD_CLUSTER_MESSAGES = {
  peerUrlExists: 'etcdserver: Peer URLs already exists',
  memberNotFound: 'etcdserver: member not found',
  memberNotLearner: 'etcdserver: can only promote a learner member',
  learnerNotReady: 'etcdserver: can only promote a learner member which is in sync with leader',
  notEnoughStarted: 'etcdserver: re-configuration failed due to not enough started members',
  badMemberUrls: 'etcdserver: given member URLs are invalid',
  badLeaderTransferee: 'etcdserver: bad leader transferee',
  leaderTransferTimeout: 'etcdserver: request timed out, leader transfer took too long',
} as const;

/** Each refusal's status and etcd text (etcd's codes for the same conditions; none for names). */
const REFUSAL_STATUS: Readonly<Record<MembershipRefusal, readonly [GrpcStatus, string | undefined]>> = {
  'peer-urls-exist': [GrpcStatus.FAILED_PRECONDITION, ETCD_CLUSTER_MESSAGES.peerUrlExists],
  'name-exists': [GrpcStatus.FAILED_PRECONDITION, undefined],
  'member-not-found': [GrpcStatus.NOT_FOUND, ETCD_CLUSTER_MESSAGES.memberNotFound],
  'not-learner': [GrpcStatus.FAILED_PRECONDITION, ETCD_CLUSTER_MESSAGES.memberNotLearner],
  'learner-not-ready': [GrpcStatus.FAILED_PRECONDITION, ETCD_CLUSTER_MESSAGES.learnerNotReady],
  'not-enough-started': [GrpcStatus.FAILED_PRECONDITION, ETCD_CLUSTER_MESSAGES.notEnoughStarted],
  'bad-request': [GrpcStatus.INVALID_ARGUMENT, ETCD_CLUSTER_MESSAGES.badMemberUrls],
  'leader-handoff': [GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.leaderChanged],
};

/**
 * A refused membership change: etcd's exact text for the condition (etcd clients map errors by
 * it: etcdctl then prints it as etcd's), with our reason in the DETAIL_TRAILER trailer (kvctl
 * prints both); our own message where etcd has no text.
 */
function refusalStatus(error: MembershipRefusedError): GrpcStatusError {
  const [code, text] = REFUSAL_STATUS[error.kind];
  const reason = error.kind === 'leader-handoff' ? REASONS.leaderChanged : undefined;
  return text === undefined ? status(code, error.message, error, reason) : status(code, text, error, reason, { [DETAIL_TRAILER]: error.reason });
}

/** Trailer naming the leader (hex member id) on a not-leader answer. */
export const LEADER_HINT_TRAILER = 'keyval-leader';

/**
 * A status answering `cause`, with its outcome trailers: `reason` (else the cause's own code)
 * as `keyval-reason`, and `extra` trailers beside them.
 */
function status(code: GrpcStatus, details: string, cause: unknown, reason?: string, extra?: Record<string, string>): GrpcStatusError {
  const facts = outcomeOf(cause);
  // An error that does not know its outcome is judged by the status it is answered with.
  const outcome = hasOutcome(cause) ? facts.outcome : outcomeOfStatusCode(code);
  return new GrpcStatusError(code, details, { cause, metadata: { ...extra, ...outcomeTrailers({ outcome, reason: reason ?? facts.reason }) } });
}

/** Re-exported: where the libs and apps that use @keyval/api have always found it. */
export { DETAIL_TRAILER };

/** A status with etcd's exact text, and our explanation in the DETAIL_TRAILER trailer. */
function etcdStatus(code: GrpcStatus, etcdText: string, cause: Error): GrpcStatusError {
  return status(code, etcdText, cause, undefined, { [DETAIL_TRAILER]: cause.message });
}

function commandStatus(error: CommandRejectedError): GrpcStatusError {
  if (error instanceof CompactedError) return etcdStatus(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.compacted, error);
  if (error instanceof FutureRevisionError) return etcdStatus(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.futureRevision, error);
  if (error instanceof LeaseNotFoundError) return etcdStatus(GrpcStatus.NOT_FOUND, ETCD_MESSAGES.leaseNotFound, error);
  if (error instanceof NoSpaceError) return etcdStatus(GrpcStatus.RESOURCE_EXHAUSTED, ETCD_MESSAGES.noSpace, error);
  if (error instanceof LeaseExistsError) return etcdStatus(GrpcStatus.FAILED_PRECONDITION, ETCD_MESSAGES.leaseExists, error);
  if (error instanceof KeyNotFoundError) return status(GrpcStatus.INVALID_ARGUMENT, `${ETCD_MESSAGES.keyNotFound}: ${error.message}`, error);
  if (error instanceof CommandLimitError) return status(GrpcStatus.INVALID_ARGUMENT, error.message, error);
  if (error instanceof RangeTooLargeError) return status(GrpcStatus.RESOURCE_EXHAUSTED, error.message, error);
  if (error instanceof StaleSequenceError || error instanceof SessionExpiredError) return status(GrpcStatus.FAILED_PRECONDITION, error.message, error);
  if (error instanceof ResponseNotRetainedError) return status(GrpcStatus.ALREADY_EXISTS, error.message, error);
  if (error instanceof MalformedCommandError) return status(GrpcStatus.INTERNAL, error.message, error);
  return status(GrpcStatus.FAILED_PRECONDITION, error.message, error);
}

/** The status to answer `error` with. */
export function toStatusError(error: unknown): GrpcStatusError {
  if (error instanceof GrpcStatusError) return withOutcomeTrailers(error);
  if (error instanceof CommandRejectedError) return commandStatus(error);
  if (error instanceof NotLeaderError) {
    return error.leaderHint === undefined
      ? status(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.noLeader, error, REASONS.noLeader)
      : status(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.notLeader, error, REASONS.notLeader, { [LEADER_HINT_TRAILER]: error.leaderHint.toString(16) });
  }
  if (error instanceof LeaderUnreachableError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.noLeader}: ${error.message}`, error);
  if (error instanceof ProposalTooLargeError) return status(GrpcStatus.INVALID_ARGUMENT, `${ETCD_MESSAGES.requestTooLarge}: ${error.message}`, error);
  if (error instanceof LeaderTransferInProgressError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error, REASONS.leaderChanged);
  if (error instanceof ProposalDroppedError) return status(GrpcStatus.UNAVAILABLE, error.message, error);
  if (error instanceof MembershipRefusedError) return refusalStatus(error);
  if (error instanceof ConfChangeRefusedError) return status(GrpcStatus.FAILED_PRECONDITION, error.message, error);
  if (error instanceof TransferRefusedError) return status(GrpcStatus.FAILED_PRECONDITION, `${ETCD_CLUSTER_MESSAGES.badLeaderTransferee}: ${error.reason}`, error);
  if (error instanceof LeaderTransferTimeoutError) return status(GrpcStatus.DEADLINE_EXCEEDED, `${ETCD_CLUSTER_MESSAGES.leaderTransferTimeout}: ${error.message}`, error);
  if (error instanceof ProposalLostError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error, REASONS.leaderChanged);
  if (error instanceof ReadNotConfirmedError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error, REASONS.leaderChanged);
  if (error instanceof DeadlineExceededError) return status(GrpcStatus.DEADLINE_EXCEEDED, `${ETCD_MESSAGES.timeout}: ${error.message}`, error);
  if (error instanceof ResourceExhaustedError) return status(GrpcStatus.RESOURCE_EXHAUSTED, `${ETCD_MESSAGES.tooManyRequests}: ${error.message}`, error);
  if (error instanceof MemberStoppedError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.stopped}: ${error.message}`, error);
  return status(GrpcStatus.INTERNAL, `internal error: ${error instanceof Error ? error.message : String(error)}`, error);
}
