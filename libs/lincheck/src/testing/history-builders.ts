/**
 * Test helpers (not part of the build): terse builders for hand-written histories. Times are
 * [call, return]; `null` return means the client never heard back.
 */
import type { CasOp, GetOp, Operation, OpStatus, PutOp, Value } from '../history';

type Times = readonly [number, number | null];

interface Where {
  readonly process?: number;
  readonly key?: string;
  readonly status?: OpStatus;
}

function common([callTime, returnTime]: Times, where: Where, fallbackStatus: OpStatus): Omit<Operation, 'f'> {
  const status = where.status ?? (returnTime === null ? 'info' : fallbackStatus);
  return { process: where.process ?? 0, key: where.key ?? 'x', callTime, returnTime, status };
}

/** An ok get that read `output`. */
export function get(times: Times, output: Value, where: Where = {}): GetOp {
  return { ...common(times, where, 'ok'), f: 'get', output };
}

/** A put of `value` (ok unless `where.status` or a null return says otherwise). */
export function put(times: Times, value: string, where: Where = {}): PutOp {
  return { ...common(times, where, 'ok'), f: 'put', value };
}

/** A delete. */
export function del(times: Times, where: Where = {}): Operation {
  return { ...common(times, where, 'ok'), f: 'delete' };
}

/** An append of `value`. */
export function append(times: Times, value: string, where: Where = {}): Operation {
  return { ...common(times, where, 'ok'), f: 'append', value };
}

/** A cas; `succeeded` undefined means indeterminate (info). */
export function cas(times: Times, expected: Value, newValue: Value, succeeded: boolean | undefined, where: Where = {}): CasOp {
  const base = common(times, succeeded === undefined ? { ...where, status: where.status ?? 'info' } : where, 'ok');
  return { ...base, f: 'cas', expected, newValue, ...(succeeded === undefined ? {} : { succeeded }) };
}
