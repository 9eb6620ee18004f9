/**
 * The one error type of this library. A server handler throws it to answer a call with a
 * status; the client rejects with it when a call ends with a status other than OK.
 */
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

  constructor(code: GrpcStatus, details: string, options: { metadata?: StatusMetadata; cause?: unknown } = {}) {
    super(`${statusName(code)}: ${details}`, options.cause === undefined ? undefined : { cause: options.cause });
    if (code === GrpcStatus.OK) {
      throw new RangeError('GrpcStatusError needs a status other than OK');
    }
    this.name = 'GrpcStatusError';
    this.code = code;
    this.details = details;
    this.metadata = options.metadata ?? {};
  }
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
