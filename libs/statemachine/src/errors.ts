/**
 * Every expected failure of the state machine, in one place (STYLE.md: named errors).
 *
 * Two families:
 * - {@link CommandRejectedError}: the outcome of applying one command. Deterministic (it depends
 *   on the log alone), returned inside an {@link ApplyResult}, never thrown by `apply`; every
 *   member computes the same one, and a client session remembers it like a response.
 * - Everything else is thrown. Storage and corruption errors are fatal to the member: after one
 *   the state machine refuses further calls ({@link StateMachineFailedError}) and must be
 *   reopened, because its in-memory and on-disk states may disagree.
 *
 * The app maps `code` to gRPC statuses at its edge.
 */

import type { Outcome } from '@keyval/outcome';

/** Base of every named state-machine error; `code` is stable and machine-readable. */
export abstract class StateMachineError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

// ---------------------------------------------------------------------------------------------
// Command outcomes (deterministic, returned in apply results)
// ---------------------------------------------------------------------------------------------

/**
 * A command was applied (it advanced the applied index) but changed nothing; `code` says why.
 * For the caller, the write did not take effect (`not-applied`), except where a subclass says.
 */
export abstract class CommandRejectedError extends StateMachineError {
  readonly outcome: Outcome = 'not-applied';
}

/** The entry's payload is not a command this codec can decode. Nothing was changed. */
export class MalformedCommandError extends CommandRejectedError {
  readonly code = 'MALFORMED_COMMAND';
}

/** A command exceeds a state-machine limit (key, value, txn size, nesting, response size). */
export class CommandLimitError extends CommandRejectedError {
  readonly code = 'COMMAND_LIMIT';
  static exceeded(what: string, actual: number, limit: number): CommandLimitError {
    return new CommandLimitError(`${what} is ${actual}, over the limit of ${limit}`);
  }
}

/** A put with `ignoreValue` named a key that does not exist (etcd's ErrKeyNotFound). */
export class KeyNotFoundError extends CommandRejectedError {
  readonly code = 'KEY_NOT_FOUND';
  static forKey(key: Uint8Array): KeyNotFoundError {
    return new KeyNotFoundError(`key not found: ${describeKey(key)} (ignore_value needs an existing key)`);
  }
}

/** A range (alone or inside a txn) would return more than `maxRangeResponseBytes`. */
export class RangeTooLargeError extends CommandRejectedError {
  readonly code = 'RANGE_TOO_LARGE';
  static exceeded(limitBytes: number): RangeTooLargeError {
    return new RangeTooLargeError(`range response exceeds ${limitBytes} bytes; narrow the range or set a limit`);
  }
}

/** A write carried a sequence number lower than the last one applied for its session (§6.3). */
export class StaleSequenceError extends CommandRejectedError {
  readonly code = 'STALE_SEQUENCE';
  static of(client: string, seq: number, lastSeq: number): StaleSequenceError {
    return new StaleSequenceError(`stale sequence number ${seq} for client ${client}: ${lastSeq} was already applied`);
  }
}

/**
 * A write continued a session (sequence > 1) that the state machine does not know: it expired
 * (idle longer than the session TTL of log time), was evicted, or never existed. The client
 * cannot know whether its earlier writes applied and must start a new session (§6.3).
 */
export class SessionExpiredError extends CommandRejectedError {
  readonly code = 'SESSION_EXPIRED';
  static of(client: string, seq: number): SessionExpiredError {
    return new SessionExpiredError(`session of client ${client} is unknown or expired (sequence ${seq}); start a new session at sequence 1`);
  }
}

/**
 * A retry of a write that was applied, whose response was too large to remember
 * (`maxRememberedResponseBytes`). The write took effect exactly once; read to learn the outcome.
 */
export class ResponseNotRetainedError extends CommandRejectedError {
  readonly code = 'RESPONSE_NOT_RETAINED';
  override readonly outcome: Outcome = 'applied';
  static of(client: string, seq: number): ResponseNotRetainedError {
    return new ResponseNotRetainedError(`write ${seq} of client ${client} was applied, but its response was too large to remember`);
  }
}

/**
 * A read (a range, a txn's range, a compaction) at a revision the history no longer holds:
 * below the compacted revision (etcd's ErrCompacted; for a compaction: at or below it).
 */
export class CompactedError extends CommandRejectedError {
  readonly code = 'COMPACTED';
  static of(requested: number, compacted: number): CompactedError {
    return new CompactedError(`revision ${requested} has been compacted (the history starts at revision ${compacted})`);
  }
}

/** A read or compaction at a revision the store has not reached yet (etcd's ErrFutureRev). */
export class FutureRevisionError extends CommandRejectedError {
  readonly code = 'FUTURE_REVISION';
  static of(requested: number, current: number): FutureRevisionError {
    return new FutureRevisionError(`revision ${requested} is in the future (the store is at revision ${current})`);
  }
}

/** A put named a lease, or a revoke a lease, that does not exist (etcd's ErrLeaseNotFound). */
export class LeaseNotFoundError extends CommandRejectedError {
  readonly code = 'LEASE_NOT_FOUND';
  static of(id: bigint): LeaseNotFoundError {
    return new LeaseNotFoundError(`lease ${id.toString(16)} not found`);
  }
}

/** A grant named a lease id that is taken (etcd's ErrLeaseExists). */
export class LeaseExistsError extends CommandRejectedError {
  readonly code = 'LEASE_EXISTS';
  static of(id: bigint): LeaseExistsError {
    return new LeaseExistsError(`lease ${id.toString(16)} already exists`);
  }
}

/**
 * A write that adds data (a put, a txn with a put, a lease grant) while a NOSPACE alarm is
 * active (etcd's ErrNoSpace). Deletes, reads and compaction still apply; an operator frees
 * space (compact, defragment) and disarms the alarm.
 */
export class NoSpaceError extends CommandRejectedError {
  readonly code = 'NO_SPACE';
  static alarmed(): NoSpaceError {
    return new NoSpaceError('a NOSPACE alarm is active: free space (compact, defragment) and disarm it (etcdctl alarm disarm)');
  }
  static overQuota(dbBytes: number, costBytes: number, quotaBytes: number): NoSpaceError {
    return new NoSpaceError(`the database (${dbBytes} bytes) and this write (${costBytes} bytes) would reach the quota of ${quotaBytes} bytes (--quota-backend-bytes); NOSPACE raised`);
  }
}

const COMMAND_ERRORS: Readonly<Record<string, new (message: string) => CommandRejectedError>> = {
  MALFORMED_COMMAND: MalformedCommandError,
  COMMAND_LIMIT: CommandLimitError,
  KEY_NOT_FOUND: KeyNotFoundError,
  RANGE_TOO_LARGE: RangeTooLargeError,
  STALE_SEQUENCE: StaleSequenceError,
  SESSION_EXPIRED: SessionExpiredError,
  RESPONSE_NOT_RETAINED: ResponseNotRetainedError,
  COMPACTED: CompactedError,
  FUTURE_REVISION: FutureRevisionError,
  LEASE_NOT_FOUND: LeaseNotFoundError,
  LEASE_EXISTS: LeaseExistsError,
  NO_SPACE: NoSpaceError,
};

/** Rebuilds a remembered command error from its code and message; undefined for unknown codes. */
export function commandErrorFromCode(code: string, message: string): CommandRejectedError | undefined {
  const ctor = COMMAND_ERRORS[code];
  return ctor === undefined ? undefined : new ctor(message);
}

// ---------------------------------------------------------------------------------------------
// Thrown errors
// ---------------------------------------------------------------------------------------------

/** `apply` was given entries that do not continue the applied index (a driver bug). */
export class ApplyOrderError extends StateMachineError {
  readonly code = 'APPLY_ORDER';
  constructor(
    readonly expectedIndex: number,
    readonly gotIndex: number,
  ) {
    super(`apply expected entry index ${expectedIndex}, got ${gotIndex}`);
  }
}

/** The state machine was closed. */
export class StateMachineClosedError extends StateMachineError {
  readonly code = 'CLOSED';
  constructor() {
    super('the state machine is closed');
  }
}

/** An earlier fatal error (storage, corruption, interrupted restore) stopped the state machine. */
export class StateMachineFailedError extends StateMachineError {
  readonly code = 'FAILED';
  constructor(cause: unknown) {
    super(`the state machine stopped after a fatal error: ${String(cause)}; reopen it`, { cause });
  }
}

/** A record stored in RocksDB (or the data dir) is not what this code wrote. Fatal. */
export class StorageCorruptError extends StateMachineError {
  readonly code = 'STORAGE_CORRUPT';
  constructor(
    readonly where: string,
    reason: string,
  ) {
    super(`corrupt state-machine storage at ${where}: ${reason}`);
  }
}

/** A snapshot file or stream failed verification; `chunkIndex` names the bad chunk if known. */
export class SnapshotCorruptError extends StateMachineError {
  readonly code: string = 'SNAPSHOT_CORRUPT';
  constructor(
    readonly source: string,
    readonly offset: number,
    readonly reason: string,
    readonly chunkIndex?: number,
  ) {
    super(`corrupt snapshot ${source}${chunkIndex === undefined ? '' : ` chunk ${chunkIndex}`} at byte ${offset}: ${reason}`);
  }
}

/** A snapshot file or stream ended before its end frame. */
export class SnapshotTruncatedError extends SnapshotCorruptError {
  override readonly code = 'SNAPSHOT_TRUNCATED';
}

/** No snapshot with that name or index exists in the snapshot directory. */
export class SnapshotNotFoundError extends StateMachineError {
  readonly code = 'SNAPSHOT_NOT_FOUND';
  constructor(readonly what: string) {
    super(`snapshot not found: ${what}`);
  }
}

/** A broken invariant: a bug or corrupted state. Never caught; the member must stop. */
export class StateMachineInvariantError extends Error {
  constructor(message: string) {
    super(`state machine invariant violated: ${message}`);
    this.name = 'StateMachineInvariantError';
  }
}

/** Asserts an invariant; a failed assertion crashes the member (a crashed member is safe). */
export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new StateMachineInvariantError(typeof message === 'string' ? message : message());
  }
}

/** Printable form of a key for messages: UTF-8 when it is printable, else hex; truncated. */
export function describeKey(key: Uint8Array): string {
  const text = Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('utf8');
  const printable = /^[\x20-\x7e]*$/.test(text);
  const shown = printable ? JSON.stringify(text) : `0x${Buffer.from(key).toString('hex')}`;
  return shown.length > 80 ? `${shown.slice(0, 77)}...` : shown;
}
