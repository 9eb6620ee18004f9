/**
 * Every named error of @keyval/storage, in one place. Callers branch on the class (or `code`).
 *
 * Two families:
 * - **Refusals** (`EntryTooLargeError`, `WriteBufferFullError`, `DiskFullError`,
 *   `StoreClosedError`): the write was not performed and nothing else changed; the caller may
 *   retry later (after space returns, for `DiskFullError`).
 * - **Fatal** (`CorruptLogError`, `FsyncFailedError`, `LogWriteFailedError`,
 *   `StoreFailedError`): the store cannot be trusted any more in this process. The owner must
 *   crash and restart; a crashed member is safe, a corrupted one is not (STYLE.md).
 *
 * Contract violations by the caller (appending with a gap, compacting past the last index...)
 * are reported with `RaftInvariantError` from @keyval/raft, exactly as `MemoryStorage` does.
 */

export abstract class StorageError extends Error {
  abstract readonly code: string;
  /** True when the owner must stop using the store (and, for a member, crash). */
  abstract readonly fatal: boolean;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A record failed its checksum (or is malformed) somewhere other than a torn tail, or the
 * segments do not form a consistent log. Recovery stops: the data dir needs an operator.
 */
export class CorruptLogError extends StorageError {
  readonly code = 'CORRUPT_LOG';
  readonly fatal = true;
  constructor(
    /** Path of the segment file holding the bad record. */
    readonly file: string,
    /** Byte offset of the bad record (or header) within `file`. */
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`corrupt write-ahead log: ${file} at offset ${offset}: ${reason}`);
  }
}

/**
 * A write failed because the disk is full (ENOSPC or EDQUOT). The partial write was rolled
 * back, nothing acknowledged was touched, and the store refuses writes (health `disk-full`)
 * until a probe finds space again.
 */
export class DiskFullError extends StorageError {
  readonly code = 'DISK_FULL';
  readonly fatal = false;
  constructor(
    readonly path: string,
    cause?: unknown,
  ) {
    super(`disk full while writing ${path}: writes are refused until space is available again`, { cause });
  }
}

/**
 * `fdatasync` failed. After a failed sync the kernel may have dropped the dirty pages, so a
 * retry could report success for data that is gone: never retry. Fatal.
 */
export class FsyncFailedError extends StorageError {
  readonly code = 'FSYNC_FAILED';
  readonly fatal = true;
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`fdatasync of ${path} failed (${describeCause(cause)}); the store is failed and the process must restart`, { cause });
  }
}

/** A write, truncate, rename or directory sync failed for a reason other than a full disk. */
export class LogWriteFailedError extends StorageError {
  readonly code = 'LOG_WRITE_FAILED';
  readonly fatal = true;
  constructor(
    readonly path: string,
    readonly operation: string,
    cause: unknown,
  ) {
    super(`${operation} of ${path} failed (${describeCause(cause)}); the store is failed and the process must restart`, { cause });
  }
}

/** Any call on a store that failed earlier; `cause` is the error that failed it. */
export class StoreFailedError extends StorageError {
  readonly code = 'STORE_FAILED';
  readonly fatal = true;
  constructor(cause: Error) {
    super(`the log store failed earlier and must be reopened by a new process: ${cause.message}`, { cause });
  }
}

/** A single entry's record is larger than `maxRecordBytes`. Nothing of the save was written. */
export class EntryTooLargeError extends StorageError {
  readonly code = 'ENTRY_TOO_LARGE';
  readonly fatal = false;
  constructor(
    readonly index: number,
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`entry ${index} needs a ${bytes}-byte record, over the limit of ${limitBytes} bytes`);
  }
}

/** The buffered, not yet written saves would exceed `writeBufferBytesMax`. Back off and retry. */
export class WriteBufferFullError extends StorageError {
  readonly code = 'WRITE_BUFFER_FULL';
  readonly fatal = false;
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(`write buffer full: ${bytes} bytes would pass the limit of ${limitBytes} bytes`);
  }
}

/** The store was closed (or is closing); it accepts no more writes. */
export class StoreClosedError extends StorageError {
  readonly code = 'STORE_CLOSED';
  readonly fatal = false;
  constructor() {
    super('the log store is closed');
  }
}

/** An option passed to a store is out of its allowed range. */
export class InvalidStoreOptionError extends StorageError {
  readonly code = 'INVALID_STORE_OPTION';
  readonly fatal = false;
  constructor(
    readonly option: string,
    readonly value: unknown,
    readonly requirement: string,
  ) {
    super(`invalid log store option ${option}=${String(value)}: ${requirement}`);
  }
}

/** The errno-style code of a Node.js system error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

/** True for the errors a full disk (or an exhausted quota) produces. */
export function isNoSpaceError(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    return cause.message;
  }
  return String(cause);
}
