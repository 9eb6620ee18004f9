/**
 * The simulation's named errors. A SimViolation is what the simulation exists to find: a
 * broken safety or liveness property of the Raft core (or of the simulated driver around it).
 * SimInvariantError is a bug in the simulator itself.
 */

/** The property families the checkers report. */
export enum ViolationKind {
  ElectionSafety = 'election-safety',
  LeaderAppendOnly = 'leader-append-only',
  LogMatching = 'log-matching',
  LeaderCompleteness = 'leader-completeness',
  StateMachineSafety = 'state-machine-safety',
  Linearizability = 'linearizability',
  LostWrite = 'lost-write',
  DuplicateApply = 'duplicate-apply',
  /** A leader's commit index advanced onto an entry of an older term (§5.4.2). */
  CommitRule = 'commit-rule',
  /** A vote or an append acknowledgement left before what it promises was durable. */
  UndurablePromise = 'undurable-promise',
  /** A member removed entries it had acknowledged to the leader of its current term. */
  AckRetracted = 'ack-retracted',
  /** A vote was granted to a candidate whose log is less up to date than the voter's (§5.4.1). */
  ElectionRestriction = 'election-restriction',
  /** A read was served by a member of term t after a leader of a higher term was elected. */
  StaleRead = 'stale-read',
  Liveness = 'liveness',
  /** The core threw (RaftInvariantError or anything unexpected) while being driven. */
  CoreCrash = 'core-crash',
  /** The driver contract was broken (e.g. a Ready snapshot with no data received). */
  DriverContract = 'driver-contract',
  /** The linearizability checker itself failed (not a verdict about the core). */
  CheckerError = 'checker-error',
}

export class SimViolation extends Error {
  constructor(
    readonly kind: ViolationKind,
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
    this.name = 'SimViolation';
  }
}

/** A bug in the simulator (not in the core). */
export class SimInvariantError extends Error {
  constructor(message: string) {
    super(`simulator invariant violated: ${message}`);
    this.name = 'SimInvariantError';
  }
}

export function simAssert(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new SimInvariantError(typeof message === 'string' ? message : message());
  }
}
