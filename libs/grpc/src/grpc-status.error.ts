/**
 * The one error type of this library. A server handler throws it to answer a call with a
 * status; the client rejects with it when a call ends with a status other than OK.
 */
import { OUTCOME_TRAILER, outcomeOf, outcomeTrailers } from '@keyval/outcome';
import type { Outcome } from '@keyval/outcome';
import { GrpcStatus, statusName } from './status';

/** Trailing metadata sent (or received) with a status: ASCII values, or bytes for `-bin` keys. */
export type StatusMetadata = Readonly<Record<string, string | Buffer>>;

export class GrpcStatusError extends Error {
  /** Never OK: an OK call is not an error. */
  readonly code: GrpcStatus;
  /** The `grpc-message`: the human-readable reason, without the code's name. */
  readonly details: string;
  /** Extra trailers (e.g. a leader hint on a not-leader error). */
  readonly metadata: StatusMetadata;
  /**
   * What became of the call, when this side knows it first-hand (e.g. `never-sent`: the
   * connection was never established, or the server refused the stream unprocessed). A
   * received status carries its outcome in the `keyval-outcome` trailer instead; read both
   * with `outcomeOf` (@keyval/outcome).
   */
  readonly outcome: Outcome | undefined;

  constructor(code: GrpcStatus, details: string, options: { metadata?: StatusMetadata; cause?: unknown; outcome?: Outcome } = {}) {
    super(`${statusName(code)}: ${details}`, options.cause === undefined ? undefined : { cause: options.cause });
    if (code === GrpcStatus.OK) {
      throw new RangeError('GrpcStatusError needs a status other than OK');
    }
    this.name = 'GrpcStatusError';
    this.code = code;
    this.details = details;
    this.metadata = options.metadata ?? {};
    this.outcome = options.outcome;
  }
}

/**
 * `error` as a server answers it: with the `keyval-outcome` (and `keyval-reason`) trailers of
 * what became of the call. A status received from further on keeps its own; one made here gets
 * them from its typed outcome, else from its status code (outcomeOf).
 */
export function withOutcomeTrailers(error: GrpcStatusError): GrpcStatusError {
  if (error.metadata[OUTCOME_TRAILER] !== undefined) {
    return error;
  }
  const metadata = { ...error.metadata, ...outcomeTrailers(outcomeOf(error)) };
  return new GrpcStatusError(error.code, error.details, { cause: error.cause ?? error, metadata, outcome: error.outcome });
}

/** True for errors carrying a gRPC status: ours, and `@grpc/grpc-js`'s ServiceError. */
export function hasGrpcStatus(error: unknown): error is { code: GrpcStatus; details: string } {
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'number' &&
    typeof (error as { details?: unknown }).details === 'string'
  );
}
