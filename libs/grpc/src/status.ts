/**
 * gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html) and the named
 * error handlers throw to answer one.
 */

/** The status of a finished call, as sent in the `grpc-status` trailer. */
export enum GrpcStatus {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** The code's name (`"NOT_FOUND"`), or `"CODE_<n>"` for a number outside the table. */
export function statusName(code: number): string {
  const name: unknown = (GrpcStatus as unknown as Record<number, unknown>)[code];
  return typeof name === 'string' ? name : `CODE_${code}`;
}

/** Reads a `grpc-status` value; anything that is not a known code counts as UNKNOWN. */
export function parseStatusCode(value: string | undefined): GrpcStatus {
  if (value === undefined || !/^[0-9]{1,2}$/.test(value)) {
    return GrpcStatus.UNKNOWN;
  }
  const code = Number(value);
  return code <= GrpcStatus.UNAUTHENTICATED ? (code as GrpcStatus) : GrpcStatus.UNKNOWN;
}
