/**
 * Property tests (STYLE.md layer 3): the log, quorum and progress logic against slow, obvious
 * versions, over random inputs from fast-check.
 */
import fc from 'fast-check';
import { Inflights } from './inflights';
import { MemoryStorage } from './memory-storage';
import { Progress, ProgressState } from './progress';
import { VoteResult, quorumMinimum, quorumSize, voteResult } from './quorum';
import { RaftLog } from './raft-log';
import { EntryType, entryBytes } from './types';
import type { Entry, LogIndex, Term } from './types';

const I = (n: number) => n as LogIndex;
const T = (n: number) => n as Term;

describe('quorum arithmetic', () => {
  it('quorumMinimum is the largest value a majority reaches', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 9 }), (values) => {
        const q = quorumSize(values.length);
        let slow = -1;
        for (let v = 0; v <= 50; v++) {
          if (values.filter((x) => x >= v).length >= q) {
            slow = v;
          }
        }
        expect(quorumMinimum(values)).toBe(slow);
      }),
    );
  });

  it('voteResult is Won/Lost exactly when every completion of the pending votes wins/loses', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.nat(), fc.nat(), (n, g, r) => {
        const granted = g % (n + 1);
        const rejected = r % (n - granted + 1);
        const pending = n - granted - rejected;
        const q = Math.floor(n / 2) + 1;
        const bestCase = granted + pending >= q;
        const worstCase = granted >= q;
        const slow = worstCase ? VoteResult.Won : bestCase ? VoteResult.Pending : VoteResult.Lost;
        expect(voteResult(n, granted, rejected)).toBe(slow);
      }),
    );
  });
});

describe('inflights', () => {
  it('behaves like a plain FIFO with count and byte bounds', () => {
    const op = fc.oneof(fc.record({ kind: fc.constant('add' as const), bytes: fc.integer({ min: 1, max: 300 }) }), fc.record({ kind: fc.constant('free' as const), upTo: fc.nat({ max: 200 }) }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 100, max: 2000 }), fc.array(op, { maxLength: 200 }), (maxMessages, maxBytes, ops) => {
        const real = new Inflights(maxMessages, maxBytes);
        let model: { index: number; bytes: number }[] = [];
        let next = 1;
        for (const o of ops) {
          const full = model.length >= maxMessages || model.reduce((s, x) => s + x.bytes, 0) >= maxBytes;
          expect(real.full()).toBe(full);
          if (o.kind === 'add') {
            if (!full) {
              real.add(I(next), o.bytes);
              model.push({ index: next, bytes: o.bytes });
              next++;
            }
          } else {
            real.freeLE(I(o.upTo));
            model = model.filter((x) => x.index > o.upTo);
          }
          expect(real.count).toBe(model.length);
          expect(real.bytes).toBe(model.reduce((s, x) => s + x.bytes, 0));
        }
      }),
    );
  });
});

describe('progress', () => {
  it('keeps 0 <= match < next through any sequence of events', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('update' as const), n: fc.nat({ max: 60 }) }),
      fc.record({ kind: fc.constant('decr' as const), rejected: fc.nat({ max: 60 }), hint: fc.nat({ max: 60 }) }),
      fc.record({ kind: fc.constant('sent' as const), n: fc.nat({ max: 5 }) }),
      fc.record({ kind: fc.constantFrom('probe' as const, 'replicate' as const, 'snapshot' as const) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100 }), (ops) => {
        const pr = new Progress(I(10), 4, 10_000, false);
        for (const o of ops) {
          switch (o.kind) {
            case 'update':
              pr.maybeUpdate(I(o.n));
              break;
            case 'decr':
              // As the leader does: a rejection while replicating falls back to probing.
              if (pr.maybeDecrTo(I(o.rejected), I(o.hint)) && pr.state === ProgressState.Replicate) {
                pr.becomeProbe();
              }
              break;
            case 'sent':
              if (pr.state !== ProgressState.Snapshot && !pr.isPaused()) {
                pr.sentEntries(I(pr.next - 1 + o.n), o.n, o.n * 10);
              }
              break;
            case 'probe':
              pr.becomeProbe();
              break;
            case 'replicate':
              pr.becomeReplicate();
              break;
            case 'snapshot':
              pr.becomeSnapshot(I(pr.match + 3));
              break;
          }
          expect(pr.match).toBeGreaterThanOrEqual(0);
          expect(pr.match).toBeLessThan(pr.next);
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** The obvious model: the whole log as an array of terms, plus the compaction point. */
interface LogModel {
  terms: number[]; // terms[i] is the term at index i + 1
  compacted: number; // entries 1..compacted are gone (their term at `compacted` is kept)
}

function mkEntry(index: number, term: number, size: number): Entry {
  return { index: I(index), term: T(term), type: EntryType.Normal, data: new Uint8Array(size) };
}

describe('raft log (storage + unstable) against an array', () => {
  type Op =
    | { kind: 'append'; from: number; count: number; term: number }
    | { kind: 'persist' }
    | { kind: 'compact'; at: number }
    | { kind: 'check'; lo: number; hi: number; maxBytes: number; probe: number; probeTerm: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('append' as const), from: fc.nat({ max: 40 }), count: fc.integer({ min: 1, max: 6 }), term: fc.integer({ min: 1, max: 9 }) }),
    fc.record({ kind: fc.constant('persist' as const) }),
    fc.record({ kind: fc.constant('compact' as const), at: fc.nat({ max: 40 }) }),
    fc.record({ kind: fc.constant('check' as const), lo: fc.nat({ max: 45 }), hi: fc.nat({ max: 45 }), maxBytes: fc.integer({ min: 1, max: 400 }), probe: fc.nat({ max: 45 }), probeTerm: fc.nat({ max: 10 }) }),
  );

  it('answers every query like the array does', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const storage = new MemoryStorage();
        const log = new RaftLog(storage, I(0));
        const model: LogModel = { terms: [], compacted: 0 };
        const size = (i: number) => 10 + (i % 7) * 13;
        for (const o of ops) {
          if (o.kind === 'append') {
            // Append anywhere after the compaction point and within the log (a follower repair).
            const at = Math.max(model.compacted + 1, Math.min(o.from, model.terms.length) + 1);
            const lastTerm = model.terms[at - 2] ?? 0;
            const term = Math.max(lastTerm, o.term);
            const entries = Array.from({ length: o.count }, (_, k) => mkEntry(at + k, term, size(at + k)));
            log.append(entries);
            model.terms.length = at - 1;
            for (const e of entries) model.terms.push(e.term);
          } else if (o.kind === 'persist') {
            const unstable = log.unstable.entries;
            const last = unstable[unstable.length - 1];
            storage.append(unstable);
            if (last !== undefined) log.unstable.stableTo(last.index, last.term);
          } else if (o.kind === 'compact') {
            const at = Math.min(o.at, storage.lastIndex(), log.unstable.offset - 1);
            if (at > model.compacted) {
              storage.compact({ index: I(at), term: storage.term(I(at)), config: { voters: [], learners: [] } });
              model.compacted = at;
            }
          } else {
            checkAgainstModel(log, model, o, size);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  function checkAgainstModel(log: RaftLog, model: LogModel, o: Extract<Op, { kind: 'check' }>, size: (i: number) => number): void {
    const last = model.terms.length;
    expect(log.lastIndex()).toBe(last);
    expect(log.firstIndex()).toBe(model.compacted + 1);
    const modelTerm = (i: number): number | undefined => (i < model.compacted || i > last ? undefined : i === 0 ? 0 : model.terms[i - 1]);
    expect(log.term(I(o.probe))).toBe(modelTerm(o.probe));
    const lo = Math.max(o.lo, model.compacted + 1);
    const hi = Math.min(Math.max(o.hi, lo), last + 1);
    const got = log.slice(I(lo), I(hi), o.maxBytes);
    const want: number[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      bytes += entryBytes(mkEntry(i, 0, size(i)));
      if (want.length > 0 && bytes > o.maxBytes) break;
      want.push(model.terms[i - 1] as number);
    }
    expect(got.map((e) => e.term)).toEqual(want);
    expect(got.map((e) => e.index)).toEqual(want.map((_, k) => lo + k));
    if (o.probe >= model.compacted && o.probe <= last) {
      // Walk down while the term is known and too new; stop at the first unknown index.
      let slow = o.probe;
      while (slow > 0 && slow >= model.compacted && (model.terms[slow - 1] as number) > o.probeTerm) slow--;
      expect(log.findConflictByTerm(I(o.probe), T(o.probeTerm))).toBe(slow);
    }
  }
});
