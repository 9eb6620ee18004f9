/**
 * Every expected failure of the checker and its readers, in one place. Callers branch on the
 * class (or `code`). Running out of time or memory is not an error: it is the verdict
 * `unknown`. {@link LincheckInvariantError} is a bug in the checker, never bad input.
 */

export abstract class LincheckError extends Error {
  abstract readonly code: string;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input text that cannot be read as a history: bad syntax, or an unsupported shape. */
export class HistoryParseError extends LincheckError {
  readonly code = 'HISTORY_PARSE';
  /**
   * @param detail what is wrong, without the position
   * @param line 1-based line of the problem, when known
   * @param column 1-based column of the problem, when known
   */
  constructor(
    readonly detail: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(line === undefined ? detail : `line ${line}${column === undefined ? '' : `, column ${column}`}: ${detail}`);
  }
}

/** A history whose operations break the contract of `Operation` (see history.ts). */
export class InvalidHistoryError extends LincheckError {
  readonly code = 'INVALID_HISTORY';
  /**
   * @param opIndex index of the offending operation in the array given to the checker
   * @param detail what is wrong with it
   */
  constructor(
    readonly opIndex: number,
    readonly detail: string,
  ) {
    super(`operation ${opIndex}: ${detail}`);
  }
}

/** An option outside its documented range. */
export class InvalidOptionError extends LincheckError {
  readonly code = 'INVALID_OPTION';
  constructor(
    readonly option: string,
    readonly detail: string,
  ) {
    super(`option ${option}: ${detail}`);
  }
}

/** A broken internal invariant: a bug in the checker. The result must not be trusted. */
export class LincheckInvariantError extends LincheckError {
  readonly code = 'INVARIANT';
  constructor(detail: string) {
    super(`lincheck invariant broken: ${detail}`);
  }
}

/** Throws {@link LincheckInvariantError} unless `condition` holds. */
export function invariant(condition: boolean, detail: string): asserts condition {
  if (!condition) {
    throw new LincheckInvariantError(detail);
  }
}
