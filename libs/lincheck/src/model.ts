/**
 * The sequential specification of one key, compiled to integers so the search can run
 * without allocating: every distinct value is interned to a small id (0 is "absent"), and
 * every operation becomes an op code with up to two value ids. A step maps a state id to
 * the next state id, or to {@link ILLEGAL} when the operation's observed output is
 * impossible in that state.
 */
import { type Operation, type Value, assertNever } from './history';
import { invariant } from './lincheck.error';
import type { MemoryBudget } from './state-cache';

/** Returned by {@link stepModel} when an operation cannot take effect in a state. */
export const ILLEGAL = -1;
/** Returned by {@link stepModel} when an append result would exceed the memory budget. */
export const OUT_OF_MEMORY = -2;
/** The state id of an absent key. */
export const ABSENT = 0;

/** `get` that returned value id `a`: legal only in state `a`. */
export const OP_GET = 0;
/** `put` of value id `a` (ok or indeterminate): always legal, state becomes `a`. */
export const OP_PUT = 1;
/** `delete` (ok or indeterminate): always legal, state becomes absent. */
export const OP_DELETE = 2;
/** `cas` that succeeded: legal only in state `a`, which becomes `b`. */
export const OP_CAS_SUCCEEDED = 3;
/** `cas` whose comparison failed: legal only when the state is not `a`; no change. */
export const OP_CAS_FAILED = 4;
/** Indeterminate `cas`: always legal; the state becomes `b` if it was `a`. */
export const OP_CAS_UNKNOWN = 5;
/** `append` of value id `a` (ok or indeterminate): always legal. */
export const OP_APPEND = 6;

/** At most this many distinct values per key (appends can create many). */
export const MAX_VALUES_PER_KEY = 1 << 24;

/** Bytes charged per interned append result, besides two per UTF-16 unit. */
const VALUE_OVERHEAD_BYTES = 64;

/**
 * Interns values to dense ids. Id 0 is `null` (absent). Append results are memoised and,
 * being created by the search rather than read from the input, charged to the budget.
 */
export class ValueTable {
  private readonly ids = new Map<string, number>();
  private readonly strings: Value[] = [null];
  /** appended[suffix].get(state): the id of state + suffix. Small-integer keys stay unboxed. */
  private readonly appended: Map<number, number>[] = [];

  constructor(private readonly budget: MemoryBudget) {}

  /** The id of `value`, interning it if new. */
  idOf(value: Value): number {
    if (value === null) {
      return ABSENT;
    }
    const known = this.ids.get(value);
    if (known !== undefined) {
      return known;
    }
    invariant(this.strings.length < MAX_VALUES_PER_KEY, `more than ${MAX_VALUES_PER_KEY} distinct values`);
    const id = this.strings.length;
    this.strings.push(value);
    this.ids.set(value, id);
    return id;
  }

  /** The value of an id returned by {@link idOf}. */
  valueOf(id: number): Value {
    const value = this.strings[id];
    invariant(value !== undefined, `unknown value id ${id}`);
    return value;
  }

  /**
   * The id of `valueOf(state) + valueOf(suffix)`, with absent counting as "", or
   * {@link OUT_OF_MEMORY} when interning it would exceed the budget.
   */
  append(state: number, suffix: number): number {
    let memo = this.appended[suffix];
    if (memo === undefined) {
      memo = new Map();
      this.appended[suffix] = memo;
    }
    const known = memo.get(state);
    if (known !== undefined) {
      return known;
    }
    const value = (this.valueOf(state) ?? '') + (this.valueOf(suffix) ?? '');
    if (!this.ids.has(value) && !this.budget.tryReserve(2 * value.length + VALUE_OVERHEAD_BYTES)) {
      return OUT_OF_MEMORY;
    }
    const id = this.idOf(value);
    memo.set(state, id);
    return id;
  }
}

/** The compiled form of one operation: its op code and value-id arguments. */
export interface CompiledOp {
  readonly code: number;
  readonly a: number;
  readonly b: number;
}

/**
 * Compiles one operation the checker keeps (not `fail`, not an indeterminate `get`).
 * Indeterminate writes compile like ok ones: their step always succeeds.
 */
export function compileOperation(op: Operation, values: ValueTable): CompiledOp {
  invariant(op.status !== 'fail', 'failed operations are not checked');
  switch (op.f) {
    case 'get':
      invariant(op.status === 'ok' && op.output !== undefined, 'only ok gets are checked');
      return { code: OP_GET, a: values.idOf(op.output), b: 0 };
    case 'put':
      return { code: OP_PUT, a: values.idOf(op.value), b: 0 };
    case 'delete':
      return { code: OP_DELETE, a: 0, b: 0 };
    case 'cas': {
      const a = values.idOf(op.expected);
      const b = values.idOf(op.newValue);
      if (op.status === 'info') {
        return { code: OP_CAS_UNKNOWN, a, b };
      }
      return { code: op.succeeded === true ? OP_CAS_SUCCEEDED : OP_CAS_FAILED, a, b };
    }
    case 'append':
      return { code: OP_APPEND, a: values.idOf(op.value), b: 0 };
    default:
      return assertNever(op, 'operation kind');
  }
}

/**
 * One step of the sequential specification: the state after applying op (`code`, `a`, `b`)
 * in `state`, or {@link ILLEGAL} (or {@link OUT_OF_MEMORY} for an append). Pure except for
 * interning new append results.
 */
export function stepModel(code: number, a: number, b: number, state: number, values: ValueTable): number {
  switch (code) {
    case OP_GET:
      return state === a ? state : ILLEGAL;
    case OP_PUT:
      return a;
    case OP_DELETE:
      return ABSENT;
    case OP_CAS_SUCCEEDED:
      return state === a ? b : ILLEGAL;
    case OP_CAS_FAILED:
      return state === a ? ILLEGAL : state;
    case OP_CAS_UNKNOWN:
      return state === a ? b : state;
    case OP_APPEND:
      return values.append(state, a);
    default:
      throw new Error(`unknown op code ${code}`);
  }
}

/** Whether the checker keeps `op`: failed operations and indeterminate reads never matter. */
export function isChecked(op: Operation): boolean {
  return op.status !== 'fail' && !(op.f === 'get' && op.status === 'info');
}
