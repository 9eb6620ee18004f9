/**
 * The gateway's named errors, each with the gRPC status a client sees (the gateway is itself
 * the edge: its handlers answer with these). Errors a member answered are passed through
 * unchanged as the GrpcStatusError they arrived as.
 */
import { GrpcStatus, GrpcStatusError, withOutcomeTrailers } from '@keyval/grpc';
import { REASONS, outcomeTrailers } from '@keyval/outcome';
import type { Outcome } from '@keyval/outcome';
import { ETCD_TEXT } from './wire';

/**
 * Base of the gateway's own errors: `status()` is what the client receives, with the outcome
 * (and reason, where clients act on it) as `keyval-outcome`/`keyval-reason` trailers.
 */
export abstract class GatewayError extends Error {
  abstract readonly outcome: Outcome;
  /** The `keyval-reason` trailer, if clients act on it. */
  readonly reason: string | undefined = undefined;
  abstract status(): GrpcStatusError;

  protected answer(code: GrpcStatus): GrpcStatusError {
    return new GrpcStatusError(code, this.message, { cause: this, metadata: outcomeTrailers({ outcome: this.outcome, reason: this.reason }) });
  }
}

/** No leader was known before the request's deadline. UNAVAILABLE "etcdserver: no leader". */
export class NoLeaderError extends GatewayError {
  readonly outcome: Outcome = 'not-applied';
  override readonly reason: string | undefined = REASONS.noLeader;
  constructor(detail: string) {
    super(`${ETCD_TEXT.noLeader}: ${detail}`);
    this.name = 'NoLeaderError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.UNAVAILABLE);
  }
}

/**
 * A write's deadline passed after an attempt whose outcome is unknown (the connection broke,
 * the member timed out, leadership moved while it was in flight). It was applied at most
 * once — maybe not at all. DEADLINE_EXCEEDED, as etcd answers an indeterminate write.
 */
export class IndeterminateWriteError extends GatewayError {
  readonly outcome: Outcome = 'maybe-applied';
  constructor(
    readonly attempts: number,
    readonly lastError: string,
  ) {
    super(`${ETCD_TEXT.timeout}: the write may or may not have been applied (at most once) after ${attempts} attempt(s); last: ${lastError}`);
    this.name = 'IndeterminateWriteError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.DEADLINE_EXCEEDED);
  }
}

/** Too many requests in flight through this gateway. RESOURCE_EXHAUSTED. */
export class GatewayOverloadedError extends GatewayError {
  readonly outcome: Outcome = 'not-applied';
  constructor(readonly inflightMax: number) {
    super(`${ETCD_TEXT.tooManyRequests}: the gateway already has ${inflightMax} requests in flight`);
    this.name = 'GatewayOverloadedError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.RESOURCE_EXHAUSTED);
  }
}

/** No exactly-once session became free before the write's deadline. RESOURCE_EXHAUSTED. */
export class SessionsExhaustedError extends GatewayError {
  readonly outcome: Outcome = 'not-applied';
  constructor(readonly sessionsMax: number) {
    super(`${ETCD_TEXT.tooManyRequests}: all ${sessionsMax} write sessions of the gateway stayed busy until the deadline`);
    this.name = 'SessionsExhaustedError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.RESOURCE_EXHAUSTED);
  }
}

/** The request's deadline passed before it could be sent anywhere. DEADLINE_EXCEEDED. */
export class GatewayDeadlineError extends GatewayError {
  readonly outcome: Outcome = 'not-applied';
  constructor(detail: string) {
    super(`${ETCD_TEXT.timeout}: ${detail}`);
    this.name = 'GatewayDeadlineError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.DEADLINE_EXCEEDED);
  }
}

/** The gateway is shutting down and takes no new requests. UNAVAILABLE. */
export class GatewayStoppingError extends GatewayError {
  readonly outcome: Outcome = 'not-applied';
  override readonly reason: string | undefined = REASONS.serverStopping;
  constructor() {
    super('the gateway is shutting down');
    this.name = 'GatewayStoppingError';
  }
  status(): GrpcStatusError {
    return this.answer(GrpcStatus.UNAVAILABLE);
  }
}

/** The status a client receives for `error`: a member's status passes through unchanged (trailers added to one made here). */
export function toGatewayStatus(error: unknown): GrpcStatusError {
  if (error instanceof GrpcStatusError) {
    return withOutcomeTrailers(error);
  }
  if (error instanceof GatewayError) {
    return error.status();
  }
  return new GrpcStatusError(GrpcStatus.INTERNAL, `gateway internal error: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
