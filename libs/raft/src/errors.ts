/**
 * Every expected failure the core reports, in one place. Callers branch on the class; the
 * app layer maps them to gRPC statuses. Anything else the core throws (RaftInvariantError)
 * is a bug or corruption, and the member must crash rather than continue.
 *
 * The errors a caller sees carry `outcome`, one of @keyval/outcome's Outcome values (written
 * as a literal: the core imports nothing), which outcomeOf reads.
 */
import type { LogIndex, NodeId } from './types';

export abstract class RaftError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The operation needs the leader. `leaderHint` is the leader this member knows, if any. */
export class NotLeaderError extends RaftError {
  readonly code = 'NOT_LEADER';
  /** Refused before anything was proposed. */
  readonly outcome = 'not-applied' as const;
  constructor(readonly leaderHint: NodeId | undefined) {
    super(leaderHint === undefined ? 'not the leader, and no leader is known' : `not the leader; the leader is ${leaderHint}`);
  }
}

/** A proposal was refused; nothing was appended. `reason` says why, for the client. */
export class ProposalDroppedError extends RaftError {
  readonly code = 'PROPOSAL_DROPPED';
  readonly outcome = 'not-applied' as const;
  constructor(readonly reason: string) {
    super(`proposal dropped: ${reason}`);
  }
}

/** A single proposal is larger than `maxEntryBytes`. */
export class ProposalTooLargeError extends RaftError {
  readonly code = 'PROPOSAL_TOO_LARGE';
  readonly outcome = 'not-applied' as const;
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`proposal of ${bytes} bytes exceeds the entry limit of ${limitBytes} bytes`);
  }
}

/** Proposals are refused while leadership is being handed to another member (§3.10). */
export class LeaderTransferInProgressError extends RaftError {
  readonly code = 'LEADER_TRANSFER_IN_PROGRESS';
  readonly outcome = 'not-applied' as const;
  constructor(readonly transferee: NodeId) {
    super(`leadership is being transferred to ${transferee}`);
  }
}

/** A membership change that cannot be made, with the reason. */
export class ConfChangeRefusedError extends RaftError {
  readonly code = 'CONF_CHANGE_REFUSED';
  readonly outcome = 'not-applied' as const;
  constructor(readonly reason: string) {
    super(`membership change refused: ${reason}`);
  }
}

/** Leadership transfer refused (unknown target, a learner, ...). */
export class TransferRefusedError extends RaftError {
  readonly code = 'TRANSFER_REFUSED';
  readonly outcome = 'not-applied' as const;
  constructor(readonly reason: string) {
    super(`leader transfer refused: ${reason}`);
  }
}

/** Storage: the requested index lies before the first index (compacted into a snapshot). */
export class LogCompactedError extends RaftError {
  readonly code = 'LOG_COMPACTED';
  constructor(
    readonly index: LogIndex,
    readonly firstIndex: LogIndex,
  ) {
    super(`log index ${index} is compacted; the first index is ${firstIndex}`);
  }
}

/** Storage: the requested index lies after the last index. */
export class LogUnavailableError extends RaftError {
  readonly code = 'LOG_UNAVAILABLE';
  constructor(
    readonly index: LogIndex,
    readonly lastIndex: LogIndex,
  ) {
    super(`log index ${index} is beyond the last index ${lastIndex}`);
  }
}

/** A broken invariant: a bug or corrupted state. Never caught; the member must stop. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant violated: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

/** Asserts an invariant; a failed assertion crashes the member (STYLE.md: a crashed member is safe). */
export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new RaftInvariantError(typeof message === 'string' ? message : message());
  }
}
