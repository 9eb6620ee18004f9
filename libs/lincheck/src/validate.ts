/**
 * Checks that operations honour the `Operation` contract before the search trusts them.
 * Readers produce valid operations; this guards programmatic callers (the simulation, the
 * chaos harness) and turns a recording bug into a clear {@link InvalidHistoryError}.
 */
import { OPERATION_KINDS, type Operation, type Value } from './history';
import { InvalidHistoryError } from './lincheck.error';

/** At most this many operations per history: the search keeps O(n) arrays per key. */
export const MAX_OPERATIONS = 5_000_000;

/** Throws {@link InvalidHistoryError} for the first operation that breaks the contract. */
export function validateOperations(ops: readonly Operation[]): void {
  if (!Array.isArray(ops)) {
    throw new InvalidHistoryError(-1, 'operations must be an array');
  }
  if (ops.length > MAX_OPERATIONS) {
    throw new InvalidHistoryError(MAX_OPERATIONS, `more than ${MAX_OPERATIONS} operations`);
  }
  for (let index = 0; index < ops.length; index++) {
    const problem = describeProblem(ops[index]);
    if (problem !== undefined) {
      throw new InvalidHistoryError(index, problem);
    }
  }
}

function isValue(value: unknown): value is Value {
  return value === null || typeof value === 'string';
}

function describeProblem(op: Operation | undefined): string | undefined {
  if (op === null || typeof op !== 'object') {
    return 'must be an object';
  }
  if (!Number.isSafeInteger(op.process) || op.process < 0) {
    return `process must be a non-negative integer, got ${String(op.process)}`;
  }
  if (typeof op.key !== 'string') {
    return 'key must be a string';
  }
  if (typeof op.callTime !== 'number' || !Number.isFinite(op.callTime)) {
    return 'callTime must be a finite number';
  }
  if (op.returnTime !== null) {
    if (typeof op.returnTime !== 'number' || !Number.isFinite(op.returnTime)) {
      return 'returnTime must be a finite number or null';
    }
    if (op.returnTime < op.callTime) {
      return `returnTime ${op.returnTime} is before callTime ${op.callTime}`;
    }
  }
  if (op.status !== 'ok' && op.status !== 'fail' && op.status !== 'info') {
    return `status must be ok, fail or info, got ${String(op.status)}`;
  }
  if (op.status !== 'info' && op.returnTime === null) {
    return `a ${op.status} operation needs a returnTime`;
  }
  return describeKindProblem(op);
}

function describeKindProblem(op: Operation): string | undefined {
  switch (op.f) {
    case 'get':
      if (op.status === 'ok' && !isValue(op.output)) {
        return 'an ok get needs output: a string or null';
      }
      if (op.output !== undefined && !isValue(op.output)) {
        return 'output must be a string or null';
      }
      return undefined;
    case 'put':
    case 'append':
      return typeof op.value === 'string' ? undefined : `a ${op.f} needs value: a string`;
    case 'delete':
      return undefined;
    case 'cas':
      if (!isValue(op.expected) || !isValue(op.newValue)) {
        return 'a cas needs expected and newValue: each a string or null';
      }
      if (op.status === 'ok' && typeof op.succeeded !== 'boolean') {
        return 'an ok cas needs succeeded: a boolean';
      }
      if (op.succeeded !== undefined && typeof op.succeeded !== 'boolean') {
        return 'succeeded must be a boolean';
      }
      return undefined;
    default: {
      // Exhaustive for well-typed callers; untyped input (JSON, casts) can still get here.
      const unknownKind: never = op;
      return `f must be one of ${OPERATION_KINDS.join(', ')}, got ${JSON.stringify((unknownKind as { f?: unknown }).f)}`;
    }
  }
}
