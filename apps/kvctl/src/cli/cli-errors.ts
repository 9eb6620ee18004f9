/**
 * kvctl's failures and how they read: one line on standard error, and the exit code
 * (0 ok, 1 failure, 2 usage). Unreachable clusters, a missing leader and refused changes get
 * a plain sentence; other gRPC failures show their status and the server's message.
 */
import { GrpcStatus, GrpcStatusError, statusName } from '@keyval/grpc';
import { ClusterUnreachableError, NoLeaderError } from '../client/keyval-client';
import { EndpointsError } from '../client/endpoints';
import { DETAIL_TRAILER, REASONS, outcomeOf } from '@keyval/outcome';

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

/**
 * What a TLS failure in `reason` means for the operator, or undefined. OpenSSL names the
 * member's alert ("tlsv13 alert certificate required"); a member that refuses a client
 * certificate after verifying it closes the connection as soon as the handshake ends.
 */
export function tlsAdvice(reason: string): string | undefined {
  if (/alert certificate required|alert handshake failure/i.test(reason)) {
    return 'the member refused the TLS handshake: it requires a client certificate (give --cert and --key, signed by a CA in its --trusted-ca-file)';
  }
  if (/alert (bad certificate|unknown ca|certificate expired|certificate unknown|certificate revoked|decrypt error)/i.test(reason)) {
    return 'the member refused the TLS handshake: it did not accept the client certificate (--cert must be valid and signed by a CA in its --trusted-ca-file)';
  }
  if (/closed the connection right after the TLS handshake/i.test(reason)) {
    return 'the member refused the TLS handshake: it did not accept the client certificate, or requires one (--cert and --key, signed by a CA in its --trusted-ca-file)';
  }
  if (/self[- ]signed certificate|unable to (get local issuer|verify the first)|certificate has expired|does not match certificate's altnames/i.test(reason)) {
    return "kvctl did not trust the member's certificate (give --cacert with the CA that signed it)";
  }
  return undefined;
}

/** One line describing `error` for the operator (no stack). */
export function describeError(error: unknown): string {
  if (error instanceof ClusterUnreachableError) {
    const advice = tlsAdvice(error.lastReason);
    return advice === undefined ? error.message : `${advice}; ${error.message}`;
  }
  if (error instanceof NoLeaderError) return `${error.message}: ${describeError(error.cause)}`;
  if (error instanceof GrpcStatusError) {
    // etcd's exact text, then KeyVal's explanation of it where the member gave one.
    const detail = error.metadata[DETAIL_TRAILER];
    const details = detail === undefined ? error.details : `${error.details}: ${detail.toString()}`;
    if (error.code === GrpcStatus.UNAVAILABLE && outcomeOf(error).reason === REASONS.noLeader) {
      return `the cluster has no leader (is a quorum of its members running?): ${details}`;
    }
    if (error.code === GrpcStatus.FAILED_PRECONDITION || error.code === GrpcStatus.NOT_FOUND) {
      return `refused: ${details}`;
    }
    if (error.code === GrpcStatus.DEADLINE_EXCEEDED) {
      return `timed out: ${details} (raise --timeout to wait longer)`;
    }
    const advice = error.code === GrpcStatus.UNAVAILABLE ? tlsAdvice(details) : undefined;
    if (advice !== undefined) {
      return `${advice}: ${details}`;
    }
    return `${statusName(error.code)}: ${details}`;
  }
  return error instanceof Error ? error.message : String(error);
}
