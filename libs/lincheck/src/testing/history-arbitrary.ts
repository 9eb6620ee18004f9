/**
 * fast-check generators of small random histories (not part of the build). Each history is
 * recorded from a real sequential execution — every operation takes effect at a random
 * point inside its interval, indeterminate ones sometimes never — so it is linearizable;
 * then, with some probability, one observed output is corrupted, which usually (not
 * always) makes it non-linearizable. Each process runs one operation at a time, and a
 * process that never heard back is retired, as in Jepsen.
 */
import fc from 'fast-check';
import type { Operation, OpStatus, Value } from '../history';

/** Shape of the generated histories. */
export interface HistoryShape {
  /** Fewest operations (default 1). When set, lengths spread over the whole range. */
  readonly minOps?: number;
  readonly maxOps: number;
  readonly keys: readonly string[];
  readonly withAppend?: boolean;
  /** The value of every key before the history (default null). */
  readonly initialValue?: Value;
  /** Concurrent processes (default 3). */
  readonly processes?: number;
  /** Whether to sometimes corrupt one output (default true). */
  readonly corrupt?: boolean;
}

interface Plan {
  readonly process: number;
  readonly kind: Operation['f'];
  readonly key: number;
  readonly a: number;
  readonly b: number;
  readonly gap: number;
  readonly duration: number;
  readonly status: OpStatus;
  readonly giveUpKnown: boolean;
  readonly point: number;
  readonly tookEffect: boolean;
}

const VALUES: readonly Value[] = [null, '1', '2', '3'];

function planArbitrary(shape: HistoryShape): fc.Arbitrary<Plan> {
  const kinds: Operation['f'][] = shape.withAppend === true ? ['get', 'put', 'delete', 'cas', 'append'] : ['get', 'put', 'delete', 'cas'];
  return fc.record({
    process: fc.nat((shape.processes ?? 3) - 1),
    kind: fc.constantFrom(...kinds),
    key: fc.nat(shape.keys.length - 1),
    a: fc.nat(VALUES.length - 1),
    b: fc.nat(VALUES.length - 1),
    gap: fc.nat(3),
    duration: fc.nat(4),
    status: fc.constantFrom<OpStatus>('ok', 'ok', 'ok', 'ok', 'info', 'fail'),
    giveUpKnown: fc.boolean(),
    point: fc.double({ min: 0, max: 1, noNaN: true }),
    tookEffect: fc.boolean(),
  });
}

/** Random histories; linearizable unless an output was corrupted. */
export function historyArbitrary(shape: HistoryShape): fc.Arbitrary<Operation[]> {
  const corruptAt = shape.corrupt === false ? fc.constant(undefined) : fc.option(fc.nat(), { nil: undefined });
  return fc
    .tuple(fc.array(planArbitrary(shape), { minLength: shape.minOps ?? 1, maxLength: shape.maxOps, ...(shape.minOps === undefined ? {} : { size: 'max' as const }) }), corruptAt)
    .map(([plans, at]) => record(plans, shape, at));
}

interface Pending {
  op: Operation;
  readonly point: number;
  readonly takesEffect: boolean;
}

function record(plans: readonly Plan[], shape: HistoryShape, corruptAt: number | undefined): Operation[] {
  const cursor = new Map<number, number>();
  const retired = new Map<number, number>();
  const pending: Pending[] = [];
  for (const plan of plans) {
    const process = plan.process + (shape.processes ?? 3) * (retired.get(plan.process) ?? 0);
    const callTime = (cursor.get(process) ?? 0) + plan.gap;
    const end = callTime + plan.duration;
    const status = plan.status;
    const returnTime = status === 'info' && !plan.giveUpKnown ? null : end;
    cursor.set(process, end);
    if (returnTime === null) {
      retired.set(plan.process, (retired.get(plan.process) ?? 0) + 1);
    }
    const takesEffect = status === 'ok' || (status === 'info' && plan.tookEffect);
    // Indeterminate operations may take effect well after the client gave up.
    const point = callTime + plan.point * (status === 'info' ? plan.duration + 6 : plan.duration) + pending.length * 1e-6;
    const key = shape.keys[plan.key] as string;
    pending.push({ op: skeleton(plan, process, key, status, callTime, returnTime), point, takesEffect });
  }
  execute(pending, shape.initialValue ?? null);
  const ops = pending.map((item) => item.op);
  return corruptAt === undefined ? ops : corrupt(ops, corruptAt);
}

function skeleton(plan: Plan, process: number, key: string, status: OpStatus, callTime: number, returnTime: number | null): Operation {
  const common = { process, key, status, callTime, returnTime };
  const value = VALUES[plan.a] ?? '1';
  switch (plan.kind) {
    case 'get':
      return { ...common, f: 'get' };
    case 'put':
      return { ...common, f: 'put', value };
    case 'append':
      return { ...common, f: 'append', value };
    case 'delete':
      return { ...common, f: 'delete' };
    case 'cas':
      return { ...common, f: 'cas', expected: VALUES[plan.a] ?? null, newValue: VALUES[plan.b] ?? null };
  }
}

/** Runs the operations in order of their points, filling in what clients observed. */
function execute(pending: Pending[], initialValue: Value): void {
  const state = new Map<string, Value>();
  const order = [...pending].sort((x, y) => x.point - y.point);
  for (const item of order) {
    const op = item.op;
    const current = state.has(op.key) ? (state.get(op.key) as Value) : initialValue;
    if (!item.takesEffect) {
      continue;
    }
    switch (op.f) {
      case 'get':
        item.op = { ...op, output: current };
        break;
      case 'put':
        state.set(op.key, op.value);
        break;
      case 'append':
        state.set(op.key, (current ?? '') + op.value);
        break;
      case 'delete':
        state.set(op.key, null);
        break;
      case 'cas': {
        const succeeded = current === op.expected;
        if (succeeded) {
          state.set(op.key, op.newValue);
        }
        item.op = op.status === 'info' ? op : { ...op, succeeded };
        break;
      }
    }
  }
}

/** Changes one observed output (a get's value or a cas's outcome), if there is one. */
function corrupt(ops: Operation[], seed: number): Operation[] {
  const observed = ops.map((op, index) => ({ op, index })).filter(({ op }) => op.status === 'ok' && (op.f === 'get' || op.f === 'cas'));
  const target = observed[seed % Math.max(1, observed.length)];
  if (target === undefined) {
    return ops;
  }
  const copy = [...ops];
  const op = target.op;
  if (op.f === 'get') {
    const output = VALUES[(VALUES.indexOf(op.output ?? null) + 1 + (seed % 3)) % VALUES.length] ?? null;
    copy[target.index] = { ...op, output };
  } else if (op.f === 'cas') {
    copy[target.index] = { ...op, succeeded: op.succeeded !== true };
  }
  return copy;
}
