/**
 * Splits a history into independently checkable partitions (one per key for the `kv` model,
 * P-compositionality: a history is linearizable iff each key's sub-history is) and compiles
 * each into the flat arrays the search walks.
 */
import type { ModelKind, Operation, Value } from './history';
import { ValueTable, compileOperation, isChecked } from './model';
import type { MemoryBudget } from './state-cache';

/** One key's operations, compiled. Index `i` below is the operation's index in the partition. */
export interface Partition {
  /** The key, or `null` for the single partition of the `register` model. */
  readonly key: string | null;
  readonly size: number;
  /** Index of operation `i` in the caller's array. */
  readonly sourceIndex: Int32Array;
  readonly code: Uint8Array;
  readonly argA: Int32Array;
  readonly argB: Int32Array;
  /** 1 when operation `i` has a known return (ok), 0 when indeterminate (info). */
  readonly determinate: Uint8Array;
  readonly callTime: Float64Array;
  /** +Infinity for indeterminate operations. */
  readonly returnTime: Float64Array;
  /** State id of the initial value. */
  readonly initialState: number;
  readonly values: ValueTable;
}

/**
 * Partitions `ops` (already validated) by key, or into one partition for `register`.
 * Failed operations and indeterminate reads are left out: they constrain nothing.
 * Partitions come smallest first (then by key), so cheap ones finish first.
 */
export function partitionOperations(ops: readonly Operation[], model: ModelKind, initialValue: Value, budget: MemoryBudget): Partition[] {
  const groups = new Map<string, number[]>();
  for (let index = 0; index < ops.length; index++) {
    const op = ops[index];
    if (op === undefined || !isChecked(op)) {
      continue;
    }
    const groupKey = model === 'register' ? '' : op.key;
    let group = groups.get(groupKey);
    if (group === undefined) {
      group = [];
      groups.set(groupKey, group);
    }
    group.push(index);
  }
  const partitions: Partition[] = [];
  for (const [key, indices] of groups) {
    partitions.push(compilePartition(model === 'register' ? null : key, indices, ops, initialValue, budget));
  }
  partitions.sort((x, y) => x.size - y.size || compareKeys(x.key, y.key));
  return partitions;
}

function compareKeys(x: string | null, y: string | null): number {
  const left = x ?? '';
  const right = y ?? '';
  return left < right ? -1 : left > right ? 1 : 0;
}

function compilePartition(key: string | null, indices: number[], ops: readonly Operation[], initialValue: Value, budget: MemoryBudget): Partition {
  const size = indices.length;
  const values = new ValueTable(budget);
  const partition: Partition = {
    key,
    size,
    sourceIndex: Int32Array.from(indices),
    code: new Uint8Array(size),
    argA: new Int32Array(size),
    argB: new Int32Array(size),
    determinate: new Uint8Array(size),
    callTime: new Float64Array(size),
    returnTime: new Float64Array(size),
    initialState: values.idOf(initialValue),
    values,
  };
  for (let i = 0; i < size; i++) {
    const op = ops[indices[i] as number] as Operation;
    const compiled = compileOperation(op, values);
    partition.code[i] = compiled.code;
    partition.argA[i] = compiled.a;
    partition.argB[i] = compiled.b;
    partition.determinate[i] = op.status === 'ok' ? 1 : 0;
    partition.callTime[i] = op.callTime;
    partition.returnTime[i] = op.status === 'ok' && op.returnTime !== null ? op.returnTime : Number.POSITIVE_INFINITY;
  }
  return partition;
}
