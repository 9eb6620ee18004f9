/**
 * kvctl's failures and how they read: one line on standard error, and the exit code
 * (0 ok, 1 failure, 2 usage). Unreachable clusters, a missing leader and refused changes get
 * a plain sentence; other gRPC failures show their status and the server's message.
 */
import { GrpcStatus, GrpcStatusError, statusName } from '@keyval/grpc';
import { ClusterUnreachableError, NoLeaderError } from '../client/keyval-client';
import { EndpointsError } from '../client/endpoints';
import { REASONS, outcomeOf } from '@keyval/outcome';

/** Bad command-line input: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the command itself detected (not found, bad file...): exit code 1. */
export class CommandFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandFailedError';
  }
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The exit code for `error`. */
export function exitCodeOf(error: unknown): number {
  return error instanceof UsageError || error instanceof EndpointsError ? EXIT_USAGE : EXIT_FAILURE;
}

/** One line describing `error` for the operator (no stack). */
export function describeError(error: unknown): string {
  if (error instanceof ClusterUnreachableError) return error.message;
  if (error instanceof NoLeaderError) return `${error.message}: ${describeError(error.cause)}`;
  if (error instanceof GrpcStatusError) {
    const details = error.details;
    if (error.code === GrpcStatus.UNAVAILABLE && outcomeOf(error).reason === REASONS.noLeader) {
      return `the cluster has no leader (is a quorum of its members running?): ${details}`;
    }
    if (error.code === GrpcStatus.FAILED_PRECONDITION || error.code === GrpcStatus.NOT_FOUND) {
      return `refused: ${details}`;
    }
    if (error.code === GrpcStatus.DEADLINE_EXCEEDED) {
      return `timed out: ${details} (raise --timeout to wait longer)`;
    }
    return `${statusName(error.code)}: ${details}`;
  }
  return error instanceof Error ? error.message : String(error);
}
