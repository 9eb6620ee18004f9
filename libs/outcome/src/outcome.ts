/**
 * What became of a call that failed: the one classification every layer reads (a typed
 * field on the errors that cross layers, a trailer on the wire), instead of each layer
 * guessing from message text.
 *
 *     error ──▶ outcomeOf ──┬─ its typed `outcome` field (the libs' named errors)
 *                           ├─ else its `keyval-outcome` trailer (a status received from a member)
 *                           ├─ else its gRPC status code (a server that sends no trailer)
 *                           └─ else 'maybe-applied' (nothing is known: assume the worst)
 *
 * The order matters for safety: a call is only ever called "not applied" on positive
 * evidence; anything unknown may have been applied.
 */

/**
 * - `never-sent`: the request never left this process, or the receiver refused it before
 *   reading it (connection refused, stream refused): nothing can have happened.
 * - `not-applied`: the receiver answered that it did not (and will not) apply it — invalid,
 *   refused, not the leader, lost to another leader's entry.
 * - `maybe-applied`: unknown. The connection broke after the request left, a deadline passed
 *   while the write was in the log, the member stopped with it pending. It took effect at most
 *   once (and a retry with the same client session still applies it at most once).
 * - `applied`: it took effect, but the answer is not the response (e.g. a repeated session
 *   write whose response was too large to remember).
 */
export type Outcome = 'never-sent' | 'not-applied' | 'maybe-applied' | 'applied';

export const OUTCOMES: readonly Outcome[] = ['never-sent', 'not-applied', 'maybe-applied', 'applied'];

/** Trailer of a failed call's answer: its Outcome (never `never-sent`: a call answered was received). */
export const OUTCOME_TRAILER = 'keyval-outcome';
/** Trailer of a failed call's answer: the stable code of the error behind it (e.g. `NOT_LEADER`). */
export const REASON_TRAILER = 'keyval-reason';
/**
 * Trailer with KeyVal's own explanation of an error whose status message is etcd's exact text
 * (etcd clients map errors by that text, so nothing may be appended to it). For people (kvctl
 * prints it after the text): no caller acts on it.
 */
export const DETAIL_TRAILER = 'keyval-detail';

/**
 * Stable reason codes that other layers act on (beside each error's own `code`): the error
 * classes that produce them say so in their documentation.
 */
export const REASONS = {
  /** This member does not lead; the `keyval-leader` trailer names the leader it knows. */
  notLeader: 'NOT_LEADER',
  /** No leader is known or reachable (an election is under way, or no quorum is up). */
  noLeader: 'NO_LEADER',
  /** Leadership moved while the call was handled (lost proposal, unconfirmed read, a transfer). */
  leaderChanged: 'LEADER_CHANGED',
  /** The session's state refused the write (unknown or expired session, a stale sequence). */
  sessionExpired: 'SESSION_EXPIRED',
  staleSequence: 'STALE_SEQUENCE',
  /** The server refused the call because it is shutting down (nothing ran). */
  serverStopping: 'SERVER_STOPPING',
} as const;

/**
 * The reasons that say "ask the leader" (a not-applied call may go to another member, or to
 * this one once an election is over): the REASONS above, and the codes of the libs' errors
 * that mean the same (a proposal lost to another leader's entry, a read no leader confirmed,
 * a leadership transfer under way).
 */
const LEADERSHIP_REASONS: ReadonlySet<string> = new Set([
  REASONS.notLeader,
  REASONS.noLeader,
  REASONS.leaderChanged,
  'PROPOSAL_LOST',
  'READ_NOT_CONFIRMED',
  'LEADER_TRANSFER_IN_PROGRESS',
]);

/** True for a reason that is about leadership: the member that answered does not lead (now). */
export function isLeadershipReason(reason: string | undefined): boolean {
  return reason !== undefined && LEADERSHIP_REASONS.has(reason);
}

/** True for the state machine's refusals of a session write (nothing applied; the session must be renewed). */
export function isSessionRefusal(reason: string | undefined): boolean {
  return reason === REASONS.sessionExpired || reason === REASONS.staleSequence;
}

/** An error that knows what became of its call: the field every error crossing layers carries. */
export interface HasOutcome {
  readonly outcome: Outcome;
}

/** What outcomeOf learned about one failure. */
export interface OutcomeFacts {
  readonly outcome: Outcome;
  /** The error's stable code (its `code` string, or the `keyval-reason` trailer), if any. */
  readonly reason: string | undefined;
}

export function isOutcome(value: unknown): value is Outcome {
  return value === 'never-sent' || value === 'not-applied' || value === 'maybe-applied' || value === 'applied';
}

/** True when `error` carries a typed `outcome` field (a named error of the libs, or a status this process made). */
export function hasOutcome(error: unknown): error is HasOutcome {
  return typeof error === 'object' && error !== null && isOutcome((error as { outcome?: unknown }).outcome);
}

/** The Outcome a trailer value names, or undefined for anything else. */
export function parseOutcome(value: unknown): Outcome | undefined {
  return isOutcome(value) ? value : undefined;
}

/**
 * gRPC status codes (fixed by the gRPC specification) whose meaning says the request was not
 * carried out: the request was refused as it stands. A status without our trailer and with
 * any other code (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL, ABORTED,
 * DATA_LOSS) may have been applied.
 */
const REFUSING_STATUS_CODES: ReadonlySet<number> = new Set([
  3, // INVALID_ARGUMENT
  5, // NOT_FOUND
  6, // ALREADY_EXISTS
  7, // PERMISSION_DENIED
  8, // RESOURCE_EXHAUSTED
  9, // FAILED_PRECONDITION
  11, // OUT_OF_RANGE
  12, // UNIMPLEMENTED
  16, // UNAUTHENTICATED
]);

/** The outcome a gRPC status code alone implies (for answers that carry no trailer). */
export function outcomeOfStatusCode(code: number): Outcome {
  return REFUSING_STATUS_CODES.has(code) ? 'not-applied' : 'maybe-applied';
}

/**
 * What became of the call that failed with `error`: the one function every layer uses. Reads,
 * in order, the error's typed `outcome` field, its `keyval-outcome` trailer (in `metadata`, as
 * a received status carries it), the outcome its gRPC status code implies; anything else may
 * have been applied.
 */
export function outcomeOf(error: unknown): OutcomeFacts {
  if (typeof error !== 'object' || error === null) {
    return { outcome: 'maybe-applied', reason: undefined };
  }
  const e = error as { readonly outcome?: unknown; readonly code?: unknown; readonly metadata?: unknown };
  const trailers = typeof e.metadata === 'object' && e.metadata !== null ? (e.metadata as Readonly<Record<string, unknown>>) : {};
  const carriedReason = trailers[REASON_TRAILER];
  const reason = typeof e.code === 'string' ? e.code : typeof carriedReason === 'string' && carriedReason !== '' ? carriedReason : undefined;
  if (isOutcome(e.outcome)) {
    return { outcome: e.outcome, reason };
  }
  const carried = parseOutcome(trailers[OUTCOME_TRAILER]);
  if (carried !== undefined) {
    return { outcome: carried, reason };
  }
  if (typeof e.code === 'number') {
    return { outcome: outcomeOfStatusCode(e.code), reason };
  }
  return { outcome: 'maybe-applied', reason };
}

/** True when nothing the call asked for took effect: it may be sent again as it is. */
export function nothingApplied(outcome: Outcome): boolean {
  return outcome === 'never-sent' || outcome === 'not-applied';
}

/**
 * True when the call that failed with `error` did nothing, and failed for want of a usable
 * leader: not the leader, no leader, leadership changed, or the request never reached the
 * member it was sent to. After a leader is (again) known it may be sent again as it is.
 * Refusals of the request itself (invalid, too large, a refused session) are not-applied too,
 * but would be refused again: false for them.
 */
export function awaitsLeader(error: unknown): boolean {
  const facts = outcomeOf(error);
  return facts.outcome === 'never-sent' || (facts.outcome === 'not-applied' && isLeadershipReason(facts.reason));
}

/**
 * The trailers that carry `facts` on a server's answer. A call being answered was received,
 * so `never-sent` (of a hop further on) is `not-applied` for the caller.
 */
export function outcomeTrailers(facts: OutcomeFacts): Record<string, string> {
  const outcome = facts.outcome === 'never-sent' ? 'not-applied' : facts.outcome;
  return facts.reason === undefined ? { [OUTCOME_TRAILER]: outcome } : { [OUTCOME_TRAILER]: outcome, [REASON_TRAILER]: facts.reason };
}
