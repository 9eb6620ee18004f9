/**
 * Turns a failed search into something a person can read: the furthest legal linearization
 * found for the key (the one holding the most operations with a known return), the value it
 * leaves, and the operations one of which had to take effect next — each with its times,
 * process, values and why it cannot.
 */
import { type Operation, type Value, assertNever } from './history';
import { OP_CAS_FAILED, OP_CAS_SUCCEEDED, OP_GET, OUT_OF_MEMORY, stepModel } from './model';
import type { Partition } from './partition';

/** At most this many candidates and linearized operations are reported. */
export const COUNTEREXAMPLE_OPS_MAX = 20;
const TAIL_OPS = 8;

/** One operation of a counterexample. */
export interface CounterexampleOp {
  /** Index in the operations array given to the checker. */
  readonly index: number;
  readonly op: Operation;
  /** Why it cannot take effect next (candidates), or the value after it (linearized). */
  readonly note: string;
}

/**
 * Why a key's history is not linearizable. Every linearization must extend some legal
 * prefix; the search found none that can absorb all operations. Reported: the furthest
 * prefix found, and after it the operations that were called before the earliest pending
 * return (`deadline`) — one of them must come next, and none can lead to a full order.
 */
export interface Counterexample {
  /** The key, or `null` for the register model. */
  readonly key: string | null;
  /** Length of the furthest legal linearization found (see the file comment). */
  readonly linearizedCount: number;
  /** Its last operations (up to 8), in order, each noting the value after it. */
  readonly linearizedTail: readonly CounterexampleOp[];
  /** The key's value after that linearization. */
  readonly valueAfter: Value;
  /** The pending operation with the earliest return: something must take effect by then. */
  readonly deadline: CounterexampleOp;
  /** Operations called before the deadline, earliest call first (at most 20). */
  readonly candidates: readonly CounterexampleOp[];
  /** Candidates left out to respect the limit. */
  readonly omittedCandidates: number;
}

/** Builds the counterexample for a partition whose search ended `illegal`. */
export function buildCounterexample(partition: Partition, prefix: Int32Array, ops: readonly Operation[]): Counterexample {
  const { values, code, argA, argB } = partition;
  const linearized = new Uint8Array(partition.size);
  const tail: CounterexampleOp[] = [];
  let state = partition.initialState;
  for (let position = 0; position < prefix.length; position++) {
    const op = prefix[position] as number;
    state = stepModel(code[op] as number, argA[op] as number, argB[op] as number, state, values);
    linearized[op] = 1;
    if (position >= prefix.length - TAIL_OPS) {
      tail.push(reportOp(partition, op, ops, `value after: ${showValue(values.valueOf(state))}`));
    }
  }
  let deadlineOp = -1;
  for (let op = 0; op < partition.size; op++) {
    if (linearized[op] === 0 && (deadlineOp < 0 || (partition.returnTime[op] as number) < (partition.returnTime[deadlineOp] as number))) {
      deadlineOp = op;
    }
  }
  const deadlineTime = partition.returnTime[deadlineOp] as number;
  const pending: number[] = [];
  for (let op = 0; op < partition.size; op++) {
    if (linearized[op] === 0 && (partition.callTime[op] as number) <= deadlineTime) {
      pending.push(op);
    }
  }
  pending.sort((x, y) => (partition.callTime[x] as number) - (partition.callTime[y] as number) || x - y);
  const shown = pending.slice(0, COUNTEREXAMPLE_OPS_MAX);
  return {
    key: partition.key,
    linearizedCount: prefix.length,
    linearizedTail: tail,
    valueAfter: values.valueOf(state),
    deadline: reportOp(partition, deadlineOp, ops, 'must take effect before it returns'),
    candidates: shown.map((op) => reportOp(partition, op, ops, whyNot(partition, op, state))),
    omittedCandidates: pending.length - shown.length,
  };
}

function reportOp(partition: Partition, op: number, ops: readonly Operation[], note: string): CounterexampleOp {
  const index = partition.sourceIndex[op] as number;
  return { index, op: ops[index] as Operation, note };
}

function whyNot(partition: Partition, op: number, state: number): string {
  const { values } = partition;
  const code = partition.code[op] as number;
  const a = partition.argA[op] as number;
  const current = showValue(values.valueOf(state));
  const after = stepModel(code, a, partition.argB[op] as number, state, values);
  if (after === OUT_OF_MEMORY) {
    return 'not evaluated: the memory limit was reached';
  }
  if (after >= 0) {
    return `legal here (value becomes ${showValue(values.valueOf(after))}), but no order of the rest is legal after it`;
  }
  switch (code) {
    case OP_GET:
      return `read ${showValue(values.valueOf(a))}, but the value is ${current}`;
    case OP_CAS_SUCCEEDED:
      return `succeeded, but the value is ${current}, not ${showValue(values.valueOf(a))}`;
    case OP_CAS_FAILED:
      return `reported a failed comparison, but the value is ${current}`;
    default:
      return `cannot take effect when the value is ${current}`;
  }
}

/** A value for people: JSON-quoted string, or `absent`. */
export function showValue(value: Value | undefined): string {
  return value === null || value === undefined ? 'absent' : JSON.stringify(value);
}

/** One line describing an operation: process, call, observed result, times, status. */
export function describeOperation(op: Operation): string {
  const times = op.status === 'info' ? `call ${op.callTime}, no return (indeterminate)` : `call ${op.callTime}, return ${String(op.returnTime)}`;
  return `p${op.process} ${describeCall(op)}  [${times}]`;
}

function describeCall(op: Operation): string {
  switch (op.f) {
    case 'get':
      return op.status === 'ok' ? `get -> ${showValue(op.output)}` : `get (${op.status})`;
    case 'put':
      return `put ${showValue(op.value)}`;
    case 'delete':
      return 'delete';
    case 'append':
      return `append ${showValue(op.value)}`;
    case 'cas': {
      const outcome = op.status === 'info' ? '?' : op.succeeded === true ? 'succeeded' : 'failed';
      return `cas ${showValue(op.expected)} -> ${showValue(op.newValue)} (${outcome})`;
    }
    default:
      return assertNever(op, 'operation kind');
  }
}

/** The counterexample as indented lines of text. */
export function formatCounterexample(counterexample: Counterexample): string {
  const c = counterexample;
  const where = c.key === null ? 'the register' : `key ${JSON.stringify(c.key)}`;
  const lines = [
    `${where}: no legal order exists.`,
    `  The search got furthest with a legal order of ${c.linearizedCount} operations, leaving the value ${showValue(c.valueAfter)}.`,
  ];
  if (c.linearizedTail.length > 0) {
    lines.push(`  It ends with:`);
    for (const item of c.linearizedTail) {
      lines.push(`    #${item.index} ${describeOperation(item.op)}  ${item.note}`);
    }
  }
  lines.push(`  Then #${c.deadline.index} ${c.deadline.note} at ${String(c.deadline.op.returnTime)}, so one of these must come next, and none can:`);
  for (const item of c.candidates) {
    lines.push(`    #${item.index} ${describeOperation(item.op)}  ${item.note}`);
  }
  if (c.omittedCandidates > 0) {
    lines.push(`    ... and ${c.omittedCandidates} more`);
  }
  return lines.join('\n');
}
