import { EntryType, MemoryStorage } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { SafetyChecker, checkPair } from './safety-checker';
import { SimViolation, ViolationKind } from './sim.errors';

const e = (index: number, term: number, payload = 0): Entry => ({
  index: index as LogIndex,
  term: term as Term,
  type: EntryType.Normal,
  data: new Uint8Array([payload]),
});

function log(entries: readonly Entry[]): MemoryStorage {
  const s = new MemoryStorage();
  s.append(entries);
  return s;
}

function violation(fn: () => void): SimViolation {
  try {
    fn();
  } catch (error) {
    if (error instanceof SimViolation) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a SimViolation');
}

describe('SafetyChecker', () => {
  it('election safety: a second leader in the same term is a violation; the same leader again is not', () => {
    const c = new SafetyChecker();
    c.onLeader(1, 5);
    c.onLeader(1, 5);
    c.onLeader(2, 6);
    expect(violation(() => c.onLeader(3, 5)).kind).toBe(ViolationKind.ElectionSafety);
  });

  it('log matching (inductive): the same index and term with another payload is caught at the write', () => {
    const c = new SafetyChecker();
    const a = log([e(1, 1), e(2, 1, 7)]);
    c.onWrite(1, a, a.allEntries());
    const b = log([e(1, 1), e(2, 1, 8)]);
    const v = violation(() => c.onWrite(2, b, b.allEntries()));
    expect(v.kind).toBe(ViolationKind.LogMatching);
    expect(v.detail).toContain('2/t1');
  });

  it('log matching (inductive): the same entry after a different predecessor is caught', () => {
    const c = new SafetyChecker();
    const a = log([e(1, 1), e(2, 2), e(3, 3)]);
    c.onWrite(1, a, a.allEntries());
    // A broken log: entry 3/t3 follows 2/t1 instead of 2/t2.
    const b = log([e(1, 1), e(2, 1), e(3, 3)]);
    expect(violation(() => c.onWrite(2, b, b.allEntries())).kind).toBe(ViolationKind.LogMatching);
  });

  it('log matching (pairwise): two logs that agree at an index but differ below it are caught', () => {
    const good = log([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    const broken = log([e(1, 1), e(2, 1, 9), e(3, 2), e(4, 2)]);
    const v = violation(() => checkPair({ name: 'a', log: good }, { name: 'b', log: broken }));
    expect(v.kind).toBe(ViolationKind.LogMatching);
    expect(v.detail).toContain('differ at 2');
  });

  it('log matching (pairwise): diverging suffixes after the last agreeing index are fine, and compacted prefixes are skipped', () => {
    const a = log([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    const b = log([e(1, 1), e(2, 1), e(3, 3)]);
    expect(() => checkPair({ name: 'a', log: a }, { name: 'b', log: b })).not.toThrow();
    const compacted = log([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
    compacted.compact({ index: 2 as LogIndex, term: 1 as Term, config: { voters: [], learners: [] } });
    expect(() => new SafetyChecker().checkLogsPairwise([{ name: 'a', log: a }, { name: 'c', log: compacted }])).not.toThrow();
  });

  it('leader append-only: a leader overwriting its own entries, or appending another term, is caught', () => {
    const c = new SafetyChecker();
    expect(() => c.checkLeaderAppend(1, 3, 5, [e(6, 3), e(7, 3)], false)).not.toThrow();
    expect(violation(() => c.checkLeaderAppend(1, 3, 5, [e(5, 3)], false)).kind).toBe(ViolationKind.LeaderAppendOnly);
    expect(violation(() => c.checkLeaderAppend(1, 3, 5, [e(6, 2)], false)).kind).toBe(ViolationKind.LeaderAppendOnly);
    expect(violation(() => c.checkLeaderAppend(1, 3, 5, [], true)).kind).toBe(ViolationKind.LeaderAppendOnly);
  });

  it('leader completeness: a leader missing an entry committed in an earlier term is caught; later terms do not count', () => {
    const c = new SafetyChecker();
    for (const entry of [e(1, 1), e(2, 2), e(3, 2)]) {
      c.onApply(1, entry, entry.index);
    }
    c.onLeaderCommit(2, 3);
    c.onLeaderCommit(7, 9);
    expect(() => c.checkLeaderCompleteness(2, 3, log([e(1, 1), e(2, 2), e(3, 2), e(4, 3)]))).not.toThrow();
    // A stale leader of term 5 need not hold what the leader of term 7 committed.
    expect(() => c.checkLeaderCompleteness(3, 5, log([e(1, 1), e(2, 2), e(3, 2)]))).not.toThrow();
    expect(violation(() => c.checkLeaderCompleteness(2, 3, log([e(1, 1), e(2, 2)]))).kind).toBe(ViolationKind.LeaderCompleteness);
    expect(violation(() => c.checkLeaderCompleteness(2, 3, log([e(1, 1), e(2, 2), e(3, 3)]))).kind).toBe(ViolationKind.LeaderCompleteness);
  });

  it('state machine safety: two members applying different entries at one index is caught', () => {
    const c = new SafetyChecker();
    c.onApply(1, e(1, 1), 11);
    c.onApply(2, e(1, 1), 11);
    expect(violation(() => c.onApply(3, e(1, 2), 12)).kind).toBe(ViolationKind.StateMachineSafety);
    expect(violation(() => c.onApply(3, e(1, 1, 5), 11)).kind).toBe(ViolationKind.StateMachineSafety);
    expect(violation(() => c.onApply(3, e(3, 1), 13)).kind).toBe(ViolationKind.StateMachineSafety);
  });

  it('state machine safety: an image that differs from what was applied at its index is caught', () => {
    const c = new SafetyChecker();
    c.onApply(1, e(1, 1), 11);
    c.onApply(1, e(2, 1), 22);
    expect(() => c.onRestore(2, 2, 1, 22)).not.toThrow();
    expect(violation(() => c.onRestore(2, 2, 1, 99)).kind).toBe(ViolationKind.StateMachineSafety);
    expect(violation(() => c.onRestore(2, 5, 1, 22)).kind).toBe(ViolationKind.StateMachineSafety);
  });
});
