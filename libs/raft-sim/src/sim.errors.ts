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
