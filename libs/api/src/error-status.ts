/**
 * Maps every named error of the libs to the gRPC status a client sees — the one place where
 * that happens (STYLE.md: map errors only at the edges). Unknown errors become INTERNAL and
 * are reported as bugs by the caller.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
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
  KeyNotFoundError,
  MalformedCommandError,
  RangeTooLargeError,
  ResponseNotRetainedError,
  SessionExpiredError,
  StaleSequenceError,
} from '@keyval/statemachine';
import { DeadlineExceededError, MemberStoppedError, ProposalLostError, ReadNotConfirmedError, ResourceExhaustedError } from '@keyval/cluster';
import { ETCD_MESSAGES, LeaderUnreachableError } from './api.errors';

/** Trailer naming the leader (hex member id) on a not-leader answer. */
export const LEADER_HINT_TRAILER = 'keyval-leader';

function status(code: GrpcStatus, details: string, cause: unknown, metadata?: Record<string, string>): GrpcStatusError {
  return new GrpcStatusError(code, details, { cause, metadata });
}

function commandStatus(error: CommandRejectedError): GrpcStatusError {
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
  if (error instanceof GrpcStatusError) return error;
  if (error instanceof CommandRejectedError) return commandStatus(error);
  if (error instanceof NotLeaderError) {
    return error.leaderHint === undefined
      ? status(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.noLeader, error)
      : status(GrpcStatus.UNAVAILABLE, ETCD_MESSAGES.notLeader, error, { [LEADER_HINT_TRAILER]: error.leaderHint.toString(16) });
  }
  if (error instanceof LeaderUnreachableError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.noLeader}: ${error.message}`, error);
  if (error instanceof ProposalTooLargeError) return status(GrpcStatus.INVALID_ARGUMENT, `${ETCD_MESSAGES.requestTooLarge}: ${error.message}`, error);
  if (error instanceof LeaderTransferInProgressError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error);
  if (error instanceof ProposalDroppedError) return status(GrpcStatus.UNAVAILABLE, error.message, error);
  if (error instanceof ConfChangeRefusedError || error instanceof TransferRefusedError) return status(GrpcStatus.FAILED_PRECONDITION, error.message, error);
  if (error instanceof ProposalLostError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error);
  if (error instanceof ReadNotConfirmedError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.leaderChanged}: ${error.message}`, error);
  if (error instanceof DeadlineExceededError) return status(GrpcStatus.DEADLINE_EXCEEDED, `${ETCD_MESSAGES.timeout}: ${error.message}`, error);
  if (error instanceof ResourceExhaustedError) return status(GrpcStatus.RESOURCE_EXHAUSTED, `${ETCD_MESSAGES.tooManyRequests}: ${error.message}`, error);
  if (error instanceof MemberStoppedError) return status(GrpcStatus.UNAVAILABLE, `${ETCD_MESSAGES.stopped}: ${error.message}`, error);
  return status(GrpcStatus.INTERNAL, `internal error: ${error instanceof Error ? error.message : String(error)}`, error);
}
