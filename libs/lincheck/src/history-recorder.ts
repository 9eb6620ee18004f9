/**
 * Records client operations as they happen — invoke, then complete — and hands back the
 * operations to check or write. For the simulation (times in ticks) and the chaos harness
 * (times in ms or ns from a monotonic clock). Operations never completed are indeterminate.
 */
import type { Operation, OpStatus, Value } from './history';
import { InvalidHistoryError } from './lincheck.error';
import { MAX_OPERATIONS, validateOperations } from './validate';

/** What a client asked for. */
export type Invocation =
  | { readonly process: number; readonly key: string; readonly f: 'get' }
  | { readonly process: number; readonly key: string; readonly f: 'put'; readonly value: string }
  | { readonly process: number; readonly key: string; readonly f: 'delete' }
  | { readonly process: number; readonly key: string; readonly f: 'cas'; readonly expected: Value; readonly newValue: Value }
  | { readonly process: number; readonly key: string; readonly f: 'append'; readonly value: string };

/**
 * How it ended. `ok` needs `output` for a get and `succeeded` for a cas. `fail`: it surely
 * did not take effect. `info`: unknown (timeout, lost connection).
 */
export type Outcome =
  | { readonly status: 'ok'; readonly output?: Value; readonly succeeded?: boolean }
  | { readonly status: 'fail' }
  | { readonly status: 'info' };

interface Slot {
  readonly invocation: Invocation;
  readonly callTime: number;
  returnTime: number | null;
  status: OpStatus | undefined;
  output?: Value;
  succeeded?: boolean;
}

/** Pairs invocations with completions. Not thread-safe; one per history. */
export class HistoryRecorder {
  private readonly slots: Slot[] = [];

  /** @param maxOperations refuse to record more than this many operations */
  constructor(private readonly maxOperations = MAX_OPERATIONS) {}

  /** Operations recorded so far. */
  get size(): number {
    return this.slots.length;
  }

  /**
   * Records an invocation at `time`; returns its id for {@link complete}.
   * @throws InvalidHistoryError when the limit of operations is reached
   */
  invoke(invocation: Invocation, time: number): number {
    if (this.slots.length >= this.maxOperations) {
      throw new InvalidHistoryError(this.slots.length, `more than ${this.maxOperations} operations recorded`);
    }
    this.slots.push({ invocation: { ...invocation }, callTime: time, returnTime: null, status: undefined });
    return this.slots.length - 1;
  }

  /**
   * Records how operation `id` ended, at `time`.
   * @throws InvalidHistoryError for an unknown id, a second completion, or an ok get/cas
   *   without its output
   */
  complete(id: number, time: number, outcome: Outcome): void {
    const slot = this.slots[id];
    if (slot === undefined) {
      throw new InvalidHistoryError(id, 'no such invocation');
    }
    if (slot.status !== undefined) {
      throw new InvalidHistoryError(id, `already completed (${slot.status})`);
    }
    if (outcome.status === 'ok') {
      if (slot.invocation.f === 'get' && outcome.output === undefined) {
        throw new InvalidHistoryError(id, 'an ok get needs output');
      }
      if (slot.invocation.f === 'cas' && outcome.succeeded === undefined) {
        throw new InvalidHistoryError(id, 'an ok cas needs succeeded');
      }
      slot.output = outcome.output;
      slot.succeeded = outcome.succeeded;
    }
    slot.status = outcome.status;
    slot.returnTime = time;
  }

  /**
   * The operations in invocation order; those not completed are indeterminate with no
   * return. Call it any time: recording can go on afterwards.
   * @throws InvalidHistoryError when the recorded times break the Operation contract
   */
  operations(): Operation[] {
    const ops = this.slots.map(toOperation);
    validateOperations(ops);
    return ops;
  }
}

function toOperation(slot: Slot): Operation {
  const status = slot.status ?? 'info';
  const common = { process: slot.invocation.process, key: slot.invocation.key, callTime: slot.callTime, returnTime: slot.returnTime, status };
  const call = slot.invocation;
  switch (call.f) {
    case 'get':
      return status === 'ok' ? { ...common, f: 'get', output: slot.output ?? null } : { ...common, f: 'get' };
    case 'put':
    case 'append':
      return { ...common, f: call.f, value: call.value };
    case 'delete':
      return { ...common, f: 'delete' };
    case 'cas':
      return { ...common, f: 'cas', expected: call.expected, newValue: call.newValue, ...(status === 'ok' ? { succeeded: slot.succeeded === true } : {}) };
  }
}
