/**
 * The vocabulary of a key-value history: what clients invoked, what they observed, and when.
 * Everything here is plain data, safe to copy, compare and serialise; the checker never
 * mutates a history it is given.
 */

/** A value held under a key: a string, or `null` when the key is absent. */
export type Value = string | null;

/**
 * How an operation ended, as the client saw it.
 * - `ok`: it completed and its output is known (a `get`'s value, a `cas`'s outcome).
 * - `fail`: it definitely did not take effect (the request never reached the database, or
 *   the database refused it before applying it). The checker ignores it.
 * - `info`: indeterminate (timed out, connection lost): it may or may not have taken effect,
 *   at any time after its call. The checker treats its return time as +infinity.
 */
export type OpStatus = 'ok' | 'fail' | 'info';

/** The fields every operation has. */
export interface OpCommon {
  /** The client that issued it. A process runs one operation at a time. */
  readonly process: number;
  /** The key it acts on. With the `register` model keys are ignored. */
  readonly key: string;
  /** When it was invoked. Any unit (ns, ms, event index); only the order matters. */
  readonly callTime: number;
  /**
   * When it completed: `callTime <= returnTime`. Required for `ok` and `fail`. For `info` it
   * is only the time the client gave up (shown in reports); the checker uses +infinity.
   * `null` when the operation never completed.
   */
  readonly returnTime: number | null;
  readonly status: OpStatus;
}

/** Reads the key. `output` (required when `ok`) is the value read, `null` if absent. */
export interface GetOp extends OpCommon {
  readonly f: 'get';
  readonly output?: Value;
}

/** Writes `value` under the key. */
export interface PutOp extends OpCommon {
  readonly f: 'put';
  readonly value: string;
}

/** Removes the key (it becomes absent). */
export interface DeleteOp extends OpCommon {
  readonly f: 'delete';
}

/**
 * Compare-and-swap, as a Txn `if value == expected then put newValue`: `expected: null`
 * compares with "absent", `newValue: null` deletes. `succeeded` (required when `ok`) says
 * whether the comparison held; `false` means the key did not hold `expected`.
 */
export interface CasOp extends OpCommon {
  readonly f: 'cas';
  readonly expected: Value;
  readonly newValue: Value;
  readonly succeeded?: boolean;
}

/** Appends `value` to the key's value (an absent key counts as ""). */
export interface AppendOp extends OpCommon {
  readonly f: 'append';
  readonly value: string;
}

/** One client operation, from call to return. Discriminated by `f`. */
export type Operation = GetOp | PutOp | DeleteOp | CasOp | AppendOp;

/** The operation kinds, in a fixed order (used by readers, writers and error messages). */
export const OPERATION_KINDS: readonly Operation['f'][] = ['get', 'put', 'delete', 'cas', 'append'];

/**
 * How the checker partitions a history.
 * - `kv`: a map from keys to values; each key is checked on its own (P-compositionality).
 * - `register`: one register; every operation acts on it and keys are ignored.
 */
export type ModelKind = 'kv' | 'register';

/** A whole history, as the readers produce it and the writers consume it. */
export interface History {
  readonly ops: readonly Operation[];
  /** The value of every key before the first operation; `null` means absent. */
  readonly initialValue: Value;
  /** The model the source declares or implies, if any (the CLI's `--model` overrides it). */
  readonly model?: ModelKind;
}

/** The outcome of a check. */
export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';

/** Raises a compile error when a `switch` over a union misses a case. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}
