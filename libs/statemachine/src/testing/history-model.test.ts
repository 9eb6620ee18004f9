/**
 * An obviously correct model of the history (test helper): the whole key space copied at
 * every revision. Slow and memory-hungry, which is fine for the few hundred revisions a test
 * makes; the real implementations are compared against it.
 */
import type { KeyValue, RangeRequest } from '../kv-types';
import type { StateMachine } from '../state-machine';
import { isEmptyRange, keyString, spanToScan } from '../engine/key-span';

export class HistoryModel {
  /** The key space after each revision (index = revision). */
  private readonly states = new Map<number, Map<string, KeyValue>>();

  /** Copies the machine's current key space as the state at its revision. */
  async capture(sm: StateMachine): Promise<void> {
    const all = await sm.range({ key: Uint8Array.of(0), rangeEnd: Uint8Array.of(0) });
    const state = new Map<string, KeyValue>();
    for (const kv of all.kvs) {
      state.set(keyString(kv.key), kv);
    }
    this.states.set(all.header.revision, state);
  }

  /** The kvs a range at `revision` should return (no limit, no sort), from the last capture at or below it. */
  kvsAt(request: RangeRequest, revision: number): KeyValue[] {
    let at = revision;
    while (at > 0 && !this.states.has(at)) {
      at--;
    }
    const state = this.states.get(at) ?? new Map<string, KeyValue>();
    const range = spanToScan(request);
    if (isEmptyRange(range)) {
      return [];
    }
    const start = keyString(range.start);
    const end = range.end === null ? null : keyString(range.end);
    return [...state.keys()]
      .filter((k) => k >= start && (end === null || k < end))
      .sort()
      .map((k) => state.get(k) as KeyValue);
  }
}
