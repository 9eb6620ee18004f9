/**
 * What a failed attempt means, and whether the request may be sent again. Pure functions:
 * the forwarder feeds them each failure.
 *
 *     failure ─► classifyFailure ─► not-applied ───► any route may retry
 *                                 ├ maybe-applied ─► reads, idempotent calls and session writes retry;
 *                                 │                  `once` calls stop (never a blind retry)
 *                                 ├ session-refused ► a gateway session is renewed and the write retried,
 *                                 │                   if no earlier attempt may have applied
 *                                 └ final ─────────► answered to the client as it is
 */
import { GrpcStatus } from '@keyval/grpc';
import type { GrpcStatusError } from '@keyval/grpc';
import { isSessionRefusal, nothingApplied, outcomeOf } from '@keyval/outcome';
import type { RouteKind } from './routes';

/**
 * - `not-applied`: the member answered that it did not apply the request (not leader, no
 *   leader, leader changed) or its server refused the call before running it.
 * - `maybe-applied`: the outcome is unknown: the connection failed or broke, the member or
 *   the gateway gave up waiting (DEADLINE_EXCEEDED), the gateway cancelled the attempt when
 *   leadership moved.
 * - `session-refused`: the state machine refused the session (unknown/expired, or a stale
 *   sequence number): nothing applied.
 * - `final`: an answer about the request itself (invalid, too large, compare failed...).
 */
export type FailureClass = 'not-applied' | 'maybe-applied' | 'session-refused' | 'final';

/**
 * The class of a failed attempt, from its status code and its outcome (outcomeOf: the
 * member's `keyval-outcome`/`keyval-reason` trailers, or what this gateway's own channel knows,
 * e.g. that the call was never sent). Message text decides nothing.
 */
export function classifyFailure(error: GrpcStatusError): FailureClass {
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
      return nothingApplied(outcomeOf(error).outcome) ? 'not-applied' : 'maybe-applied';
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
      return 'maybe-applied';
    case GrpcStatus.FAILED_PRECONDITION:
      return isSessionRefusal(outcomeOf(error).reason) ? 'session-refused' : 'final';
    default:
      return 'final';
  }
}

/**
 * May a request of `kind` be sent again after a failure of class `failure`? `session-refused`
 * is decided by the forwarder (only its own sessions are renewed), so it is false here.
 */
export function mayRetry(kind: RouteKind, failure: FailureClass): boolean {
  if (failure === 'final' || failure === 'session-refused') {
    return false;
  }
  if (failure === 'not-applied') {
    return true;
  }
  // maybe-applied: safe for reads and idempotent calls, and for writes because every write
  // the gateway forwards carries a session (the state machine applies a sequence once).
  return kind !== 'once';
}

/** Pause before attempt `attempt` (1 = the first retry): 2, 4, 8... ms, at most `capMs`. */
export function backoffMs(attempt: number, capMs = 100): number {
  return Math.min(capMs, 2 ** Math.min(Math.max(attempt, 1), 16));
}
