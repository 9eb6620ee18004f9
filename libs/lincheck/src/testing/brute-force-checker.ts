/**
 * The slow, obvious checker the property tests compare against (not part of the build).
 * It tries every order of the operations that respects real time (a before b whenever a
 * returned before b was called), over the whole map at once (no per-key split), with
 * indeterminate operations either taking effect somewhere or not at all. No cache, no
 * cleverness: only usable for a handful of operations.
 */
import type { Operation, Value } from '../history';

/** Upper bound on the operations this checker accepts (n! orders). */
export const BRUTE_FORCE_OPS_MAX = 8;

/** Whether some legal sequential order of `ops` exists. */
export function bruteForceLinearizable(ops: readonly Operation[], initialValue: Value): boolean {
  const kept = ops.filter((op) => op.status !== 'fail');
  if (kept.length > BRUTE_FORCE_OPS_MAX) {
    throw new Error(`brute force handles at most ${BRUTE_FORCE_OPS_MAX} operations`);
  }
  const used = new Array<boolean>(kept.length).fill(false);
  const mustPrecede = (a: Operation, b: Operation): boolean => a.status !== 'info' && a.returnTime !== null && a.returnTime < b.callTime;

  const search = (state: ReadonlyMap<string, Value>): boolean => {
    const allOkUsed = kept.every((op, index) => used[index] === true || op.status === 'info');
    if (allOkUsed) {
      return true; // the indeterminate leftovers simply never took effect
    }
    for (let index = 0; index < kept.length; index++) {
      const op = kept[index] as Operation;
      if (used[index] === true) {
        continue;
      }
      const blocked = kept.some((other, otherIndex) => used[otherIndex] !== true && otherIndex !== index && mustPrecede(other, op));
      if (blocked) {
        continue;
      }
      const next = apply(op, state, initialValue);
      if (next === undefined) {
        continue;
      }
      used[index] = true;
      const found = search(next);
      used[index] = false;
      if (found) {
        return true;
      }
    }
    return false;
  };
  return search(new Map());
}

/** The map after `op`, or undefined when what the client observed is impossible here. */
function apply(op: Operation, state: ReadonlyMap<string, Value>, initialValue: Value): ReadonlyMap<string, Value> | undefined {
  const current = state.has(op.key) ? (state.get(op.key) as Value) : initialValue;
  const set = (value: Value): ReadonlyMap<string, Value> => new Map(state).set(op.key, value);
  switch (op.f) {
    case 'get':
      return op.status === 'info' || op.output === current ? state : undefined;
    case 'put':
      return set(op.value);
    case 'delete':
      return set(null);
    case 'append':
      return set((current ?? '') + op.value);
    case 'cas':
      if (op.status === 'info') {
        return current === op.expected ? set(op.newValue) : state;
      }
      if (op.succeeded === true) {
        return current === op.expected ? set(op.newValue) : undefined;
      }
      return current === op.expected ? undefined : state;
  }
}
