/**
 * Errors a driver's callers see, beside the core's (NotLeaderError, ProposalDroppedError...).
 * Each says what became of the call (`outcome`, read with @keyval/outcome's outcomeOf); the
 * app layer maps them to gRPC statuses.
 */
import type { Outcome } from '@keyval/outcome';

/** The request's deadline passed; a write may or may not have been applied (indeterminate). */
export class DeadlineExceededError extends Error {
  readonly code = 'DEADLINE_EXCEEDED';
  readonly outcome: Outcome = 'maybe-applied';
  constructor(what: string) {
    super(`${what}: deadline exceeded`);
    this.name = 'DeadlineExceededError';
  }
}

/**
 * A bounded resource is full; the client should back off and retry. Refused on arrival it is
 * `not-applied`; a waiting proposal failed because the disk filled up is `maybe-applied`
 * (its entry may already be in the log).
 */
export class ResourceExhaustedError extends Error {
  readonly code = 'RESOURCE_EXHAUSTED';
  constructor(
    what: string,
    readonly outcome: Outcome = 'not-applied',
  ) {
    super(`${what} is full; retry later`);
    this.name = 'ResourceExhaustedError';
  }
}

/** The proposal's log slot was taken by another leader's entry: it definitely did not apply. */
export class ProposalLostError extends Error {
  readonly code = 'PROPOSAL_LOST';
  readonly outcome: Outcome = 'not-applied';
  constructor(index: number) {
    super(`leadership changed before the write at index ${index} committed; it was not applied`);
    this.name = 'ProposalLostError';
  }
}

/** The read could not be confirmed by the leader (leadership changed); it may be retried. */
export class ReadNotConfirmedError extends Error {
  readonly code = 'READ_NOT_CONFIRMED';
  readonly outcome: Outcome = 'not-applied';
  constructor() {
    super('the read could not be confirmed by a leader (leadership changed)');
    this.name = 'ReadNotConfirmedError';
  }
}

/**
 * The member is stopping or has stopped. A call refused on arrival is `not-applied`; a write
 * that was pending when the member stopped `maybe-applied` (its entry may still commit).
 */
export class MemberStoppedError extends Error {
  readonly code = 'MEMBER_STOPPED';
  constructor(
    reason: string,
    readonly outcome: Outcome = 'maybe-applied',
  ) {
    super(`the member is stopped: ${reason}`);
    this.name = 'MemberStoppedError';
  }
}
