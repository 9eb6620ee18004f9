import { checkHistory } from './check';
import { formatCounterexample } from './counterexample';
import type { Operation } from './history';
import { InvalidHistoryError, InvalidOptionError } from './lincheck.error';
import { append, cas, del, get, put } from './testing/history-builders';

const verdictOf = (ops: readonly Operation[], initialValue: string | null = null): string =>
  checkHistory(ops, { initialValue, timeoutMs: Number.POSITIVE_INFINITY }).verdict;

describe('checkHistory on hand-built histories', () => {
  it.each<[string, Operation[], string]>([
    ['an empty history', [], 'linearizable'],
    ['a read of the initial absent value', [get([0, 1], null)], 'linearizable'],
    ['a read of a value nobody wrote', [get([0, 1], '1')], 'not-linearizable'],
    ['put then read it back', [put([0, 1], '1'), get([2, 3], '1')], 'linearizable'],
    ['a stale read after a completed put', [put([0, 1], '1'), get([2, 3], null)], 'not-linearizable'],
    ['a read concurrent with a put may see the old value', [put([0, 10], '1', { process: 1 }), get([2, 3], null)], 'linearizable'],
    ['a read concurrent with a put may see the new value', [put([0, 10], '1', { process: 1 }), get([2, 3], '1')], 'linearizable'],
    ['new then old value is not allowed', [put([0, 10], '1', { process: 1 }), get([2, 3], '1'), get([4, 5], null)], 'not-linearizable'],
    ['operations touching at an instant are concurrent', [put([0, 5], '1', { process: 1 }), get([5, 6], null)], 'linearizable'],
    ['delete then read absent', [put([0, 1], '1'), del([2, 3]), get([4, 5], null)], 'linearizable'],
    ['a read after a delete that sees the old value', [put([0, 1], '1'), del([2, 3]), get([4, 5], '1')], 'not-linearizable'],
  ])('%s', (_name, ops, expected) => {
    expect(verdictOf(ops)).toBe(expected);
  });
});

describe('compare-and-swap', () => {
  it.each<[string, Operation[], string]>([
    ['a chain of successful swaps', [put([0, 1], '1'), cas([2, 3], '1', '2', true), cas([4, 5], '2', '3', true), get([6, 7], '3')], 'linearizable'],
    ['a swap that succeeded on the wrong value', [put([0, 1], '1'), cas([2, 3], '2', '3', true)], 'not-linearizable'],
    ['a failed comparison on a different value', [put([0, 1], '1'), cas([2, 3], '2', '3', false), get([4, 5], '1')], 'linearizable'],
    ['a failed comparison on the very value it expected', [put([0, 1], '1'), cas([2, 3], '1', '3', false)], 'not-linearizable'],
    ['create-if-absent: one of two racers wins', [cas([0, 5], null, 'a', true, { process: 1 }), cas([1, 6], null, 'b', false, { process: 2 })], 'linearizable'],
    ['create-if-absent: both racers cannot win', [cas([0, 5], null, 'a', true, { process: 1 }), cas([1, 6], null, 'b', true, { process: 2 })], 'not-linearizable'],
    ['a swap to null deletes', [put([0, 1], '1'), cas([2, 3], '1', null, true), get([4, 5], null)], 'linearizable'],
  ])('%s', (_name, ops, expected) => {
    expect(verdictOf(ops)).toBe(expected);
  });
});

describe('indeterminate and failed operations', () => {
  it.each<[string, Operation[], string]>([
    ['a timed-out put that took effect late', [put([0, null], '1', { process: 1 }), get([10, 11], null), get([20, 21], '1')], 'linearizable'],
    ['a timed-out put that never took effect', [put([0, null], '1', { process: 1 }), get([10, 11], null), get([20, 21], null)], 'linearizable'],
    ['a timed-out put that cannot take effect twice', [put([0, null], '1', { process: 1 }), put([2, 3], '2'), get([4, 5], '1'), get([6, 7], '2')], 'not-linearizable'],
    ['a timed-out put cannot take effect before its call', [get([0, 1], '1'), put([5, null], '1', { process: 1 })], 'not-linearizable'],
    ['a failed put never happened', [put([0, 1], '1', { status: 'fail' }), get([2, 3], '1')], 'not-linearizable'],
    ['a failed put leaves the old value', [put([0, 1], '1', { status: 'fail' }), get([2, 3], null)], 'linearizable'],
    ['an indeterminate read constrains nothing', [put([0, 1], '1'), { ...get([2, 3], '7'), status: 'info' }], 'linearizable'],
    ['an indeterminate cas that applied', [put([0, 1], '1'), cas([2, null], '1', '2', undefined, { process: 1 }), get([5, 6], '2')], 'linearizable'],
    ['an indeterminate cas applies at most once', [put([0, 1], '1'), cas([2, null], '1', '2', undefined, { process: 1 }), get([5, 6], '2'), get([7, 8], '1'), get([9, 10], '2')], 'not-linearizable'],
    ['an indeterminate cas cannot apply on a mismatch', [put([0, 1], '5'), cas([2, null], '1', '2', undefined, { process: 1 }), get([5, 6], '2')], 'not-linearizable'],
    ['info with a give-up time is still open-ended', [put([0, 3], '1', { process: 1, status: 'info' }), get([10, 11], null), get([20, 21], '1')], 'linearizable'],
  ])('%s', (_name, ops, expected) => {
    expect(verdictOf(ops)).toBe(expected);
  });
});

describe('append and the initial value', () => {
  it('concurrent appends may land in either order, but each exactly once', () => {
    const appends = [append([0, 10], 'a', { process: 1 }), append([0, 10], 'b', { process: 2 })];
    expect(verdictOf([...appends, get([11, 12], 'ab')])).toBe('linearizable');
    expect(verdictOf([...appends, get([11, 12], 'ba')])).toBe('linearizable');
    expect(verdictOf([...appends, get([11, 12], 'aa')])).toBe('not-linearizable');
  });

  it('uses initialValue for keys nobody wrote', () => {
    expect(verdictOf([get([0, 1], '')], '')).toBe('linearizable');
    expect(verdictOf([get([0, 1], '')], null)).toBe('not-linearizable');
  });
});

describe('partitions', () => {
  const ops = [put([0, 1], '1', { key: 'a' }), get([2, 3], '1', { key: 'a' }), get([4, 5], null, { key: 'b' }), put([6, 7], '2', { key: 'b' }), get([8, 9], '1', { key: 'b' })];

  it('checks each key on its own and reports the illegal one', () => {
    const result = checkHistory(ops);
    expect(result.verdict).toBe('not-linearizable');
    expect(result.counterexample?.key).toBe('b');
    expect(result.perKey.map((key) => [key.key, key.opCount])).toEqual([
      ['a', 2],
      ['b', 3],
    ]);
    expect(result.perKey.find((key) => key.key === 'b')?.verdict).toBe('not-linearizable');
  });

  it('the register model ignores keys', () => {
    const separate = [put([0, 1], '1', { key: 'a' }), get([2, 3], null, { key: 'b' })];
    expect(checkHistory(separate).verdict).toBe('linearizable');
    expect(checkHistory(separate, { model: 'register' }).verdict).toBe('not-linearizable');
    expect(checkHistory(separate, { model: 'register' }).counterexample?.key).toBeNull();
  });
});

describe('counterexample', () => {
  it('names the operations that cannot be ordered, with times, process and values', () => {
    const ops = [put([0, 1], '1', { process: 4 }), put([2, 3], '2', { process: 5 }), get([4, 6], '1', { process: 6 }), put([5, null], '3', { process: 7 })];
    const result = checkHistory(ops);
    const counterexample = result.counterexample;
    expect(counterexample).toBeDefined();
    if (counterexample === undefined) {
      return;
    }
    expect(counterexample.linearizedCount).toBe(2);
    expect(counterexample.valueAfter).toBe('2');
    expect(counterexample.deadline.index).toBe(2);
    expect(counterexample.candidates.map((item) => item.index)).toEqual([2, 3]);
    expect(counterexample.candidates[0]?.note).toBe('read "1", but the value is "2"');
    const text = formatCounterexample(counterexample);
    expect(text).toContain('key "x": no legal order exists.');
    expect(text).toContain('#2 p6 get -> "1"  [call 4, return 6]  read "1", but the value is "2"');
    expect(text).toContain('#3 p7 put "3"  [call 5, no return (indeterminate)]  legal here');
  });
});

/** Twenty overlapping puts, then a read of a value none wrote: ~10 M configurations. */
function hardHistory(): Operation[] {
  const puts = Array.from({ length: 20 }, (_, i) => put([0, 100], `v${i}`, { process: i }));
  return [...puts, get([101, 102], 'never', { process: 99 })];
}

describe('limits', () => {
  it('a step budget yields unknown, deterministically', () => {
    const first = checkHistory(hardHistory(), { maxSteps: 5_000, timeoutMs: Number.POSITIVE_INFINITY });
    const second = checkHistory(hardHistory(), { maxSteps: 5_000, timeoutMs: Number.POSITIVE_INFINITY });
    expect(first.verdict).toBe('unknown');
    expect(first.unknownReason).toBe('step-limit');
    expect(first.steps).toBe(5_000);
    expect({ ...second, elapsedMs: 0 }).toEqual({ ...first, elapsedMs: 0 });
  });

  it('a wall-clock limit yields unknown', () => {
    const result = checkHistory(hardHistory(), { timeoutMs: 5 });
    expect(result.verdict).toBe('unknown');
    expect(result.unknownReason).toBe('timeout');
  });

  it('a memory limit yields unknown', () => {
    const result = checkHistory(hardHistory(), { maxCacheBytes: 64 * 1024, timeoutMs: Number.POSITIVE_INFINITY });
    expect(result.verdict).toBe('unknown');
    expect(result.unknownReason).toBe('memory-limit');
  });

  it('stops at the first illegal key even when another key is hard', () => {
    const hard = hardHistory().map((op) => ({ ...op, key: 'hard' }));
    const easy = [put([200, 201], '1', { key: 'easy' }), get([202, 203], null, { key: 'easy' })];
    const result = checkHistory([...hard, ...easy], { timeoutMs: Number.POSITIVE_INFINITY, maxSteps: 1_000_000 });
    expect(result.verdict).toBe('not-linearizable');
    expect(result.counterexample?.key).toBe('easy');
    expect(result.perKey.find((key) => key.key === 'hard')?.verdict).toBe('unknown');
  });
});

describe('bad input', () => {
  it.each<[string, unknown]>([
    ['a return before the call', put([5, 4], '1')],
    ['an ok get without output', { ...put([0, 1], '1'), f: 'get', value: undefined }],
    ['an ok cas without succeeded', { ...cas([0, 1], '1', '2', true), succeeded: undefined }],
    ['an ok operation without a return', { ...put([0, 1], '1'), returnTime: null }],
    ['an unknown kind', { ...put([0, 1], '1'), f: 'increment' }],
    ['a negative process', put([0, 1], '1', { process: -1 })],
    ['an infinite time', put([0, Number.POSITIVE_INFINITY], '1')],
  ])('rejects %s with InvalidHistoryError', (_name, op) => {
    expect(() => checkHistory([get([0, 1], null), op as Operation])).toThrow(InvalidHistoryError);
  });

  it('names the offending operation', () => {
    expect(() => checkHistory([get([0, 1], null), put([5, 4], '1')])).toThrow('operation 1: returnTime 4 is before callTime 5');
  });

  it.each([{ timeoutMs: 0 }, { maxSteps: -1 }, { maxSteps: 1.5 }, { maxCacheBytes: Number.NaN }, { model: 'graph' as 'kv' }])('rejects option %p', (options) => {
    expect(() => checkHistory([], options)).toThrow(InvalidOptionError);
  });
});
