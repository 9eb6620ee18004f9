/**
 * The hooks through which the gateway reports what it does, for metrics (`@keyval/metrics`
 * implements them). Plain calls at the point where things happen; none may throw, and the ones
 * on the request path allocate nothing. Counts that the gateway keeps anyway (calls, attempts,
 * leader changes, sessions, in flight) are read from `Gateway.stats()` when scraped instead.
 *
 *     Gateway ─ request(kind) ─► Forwarder ─ retry(reason) ─► UpstreamPool ─ upstream(address).answered(ms)
 *                                                                 └─ WriteBatcher ─ batchSent(writes)
 */
import type { FailureClass } from './retry-policy';
import type { RouteKind } from './routes';

/** Why an attempt was sent again: the class of the failure before it (see retry-policy.ts). */
export type RetryReason = Exclude<FailureClass, 'final'>;

/** Hears about the calls to one member address. */
export interface UpstreamObserver {
  /** An attempt to this member ended (answered, failed or cancelled) `elapsedMs` after it was sent. */
  answered(elapsedMs: number): void;
}

export interface GatewayObserver {
  /** A client call of route kind `kind` was admitted. */
  request(kind: RouteKind): void;
  /** A call is sent again after a failure of class `reason` (a session renewal counts as `session-refused`). */
  retry(reason: RetryReason): void;
  /** One KVBatch call carrying `writes` writes went to a member. */
  batchSent(writes: number): void;
  /** The observer of calls to member address `authority` (host:port), asked once per address. */
  upstream(authority: string): UpstreamObserver;
}
