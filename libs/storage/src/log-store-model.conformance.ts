/**
 * Property check of a LogStore against the obvious model (raft's MemoryStorage, through
 * MemoryLogStore): random sequences of appends (with follower repair), hard states, snapshots,
 * compactions, bursts of concurrent appends and (durable stores) reopens must leave both
 * reading exactly the same.
 */
import fc from 'fast-check';
import type { LogIndex } from '@keyval/raft';
import type { LogStore } from './log-store';
import { MemoryLogStore } from './memory-log-store';
import { entries, hardState, snapshotMeta } from './testing/log-fixtures';

/** Opens a fresh store; `reopen` gives the same store's data again (durable) or undefined. */
export interface ModelCheckTarget {
  readonly store: LogStore;
  reopen(): Promise<LogStore | undefined>;
  dispose(): Promise<void>;
}

type Op =
  | { readonly kind: 'append'; readonly back: number; readonly count: number; readonly bump: boolean }
  | { readonly kind: 'burst'; readonly writers: number }
  | { readonly kind: 'hardState'; readonly commitBack: number }
  | { readonly kind: 'compact'; readonly pick: number; readonly wrongTerm: boolean }
  | { readonly kind: 'snapshot'; readonly offset: number; readonly match: boolean }
  | { readonly kind: 'gap'; readonly ahead: number }
  | { readonly kind: 'reopen' };

/**
 * An op, and when the next op is issued: after everything resolved (`await`), at once in the
 * same tick (same batch), on the next event-loop turn (typically while this one's batch is being
 * written), or once this op alone resolved (`await-last`).
 */
interface Step {
  readonly op: Op;
  readonly then: 'await' | 'same-tick' | 'next-tick' | 'await-last';
}

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(6), count: fc.integer({ min: 1, max: 6 }), bump: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('burst' as const), writers: fc.integer({ min: 2, max: 40 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('hardState' as const), commitBack: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('compact' as const), pick: fc.nat(1000), wrongTerm: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('snapshot' as const), offset: fc.integer({ min: -4, max: 4 }), match: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('gap' as const), ahead: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'reopen' as const }) },
);

const stepArbitrary: fc.Arbitrary<Step> = fc.record({ op: opArbitrary, then: fc.constantFrom('await' as const, 'same-tick' as const, 'next-tick' as const, 'await-last' as const) });

function readAll(store: LogStore): unknown {
  const first = store.firstIndex();
  const last = store.lastIndex();
  const list = last >= first ? store.entries(first, (last + 1) as LogIndex, Number.MAX_SAFE_INTEGER) : [];
  return { hs: store.hardState(), snap: store.snapshotMeta(), first, last, entries: list.map((e) => [e.index, e.term, [...e.data]]) };
}

/** 'ok' or the name of the error class a write settled with. */
function outcome(write: Promise<void>): Promise<string> {
  return write.then(
    () => 'ok',
    (err: unknown) => (err instanceof Error ? err.name : String(err)),
  );
}

/**
 * Issues `op` to both stores, built from the model's state (which already includes every
 * earlier op: the model applies writes at once). Returns the pairs of outcomes to compare.
 */
function issue(op: Op, model: MemoryLogStore, store: LogStore, term: { current: number }): [Promise<string>, Promise<string>][] {
  const both = (write: (s: LogStore) => Promise<void>): [Promise<string>, Promise<string>] => [outcome(write(model)), outcome(write(store))];
  const snap = model.snapshotMeta().index;
  const last = model.lastIndex();
  switch (op.kind) {
    case 'append': {
      const from = Math.max(snap + 1, last + 1 - op.back);
      term.current += op.bump ? 1 : 0;
      const list = entries(from, from + op.count - 1, term.current);
      return [both((s) => s.append(list))];
    }
    case 'burst': {
      const pairs: [Promise<string>, Promise<string>][] = [];
      for (let k = 1; k <= op.writers; k++) {
        const list = entries(last + k, last + k, term.current);
        pairs.push(both((s) => s.append(list)));
      }
      return pairs;
    }
    case 'hardState': {
      const hs = hardState(term.current, 1, Math.max(0, last - op.commitBack));
      return [both((s) => s.setHardState(hs))];
    }
    case 'compact': {
      const index = last > snap ? snap + 1 + (op.pick % (last - snap)) : last;
      const meta = snapshotMeta(index, model.term(index as LogIndex) + (op.wrongTerm ? 1 : 0));
      return [both((s) => s.compact(meta))];
    }
    case 'snapshot': {
      const index = Math.max(snap, last + op.offset);
      const inLog = index > snap && index <= last;
      const meta = snapshotMeta(index, op.match && inLog ? model.term(index as LogIndex) : term.current + 1);
      term.current = Math.max(term.current, meta.term);
      return [both((s) => s.applySnapshot(meta))];
    }
    case 'gap': {
      const list = entries(last + op.ahead, last + op.ahead, term.current);
      return [both((s) => s.append(list))];
    }
    case 'reopen':
      return [];
  }
}

/** Declares the model check (a jest `it`); `open` gives a fresh store for each generated run. */
export function describeLogStoreModelCheck(open: () => Promise<ModelCheckTarget>): void {
  it('reads and refuses like raft MemoryStorage over random, pipelined operation sequences (fast-check)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 40 }), async (steps) => {
        const target = await open();
        const model = new MemoryLogStore();
        let store = target.store;
        const term = { current: 1 };
        let inFlight: [Promise<string>, Promise<string>][] = [];
        const settle = async (): Promise<void> => {
          for (const [expected, actual] of inFlight) {
            expect(await actual).toBe(await expected);
          }
          inFlight = [];
          expect(readAll(store)).toEqual(readAll(model));
        };
        try {
          for (const { op, then } of steps) {
            if (op.kind === 'reopen') {
              await settle();
              store = (await target.reopen()) ?? store;
            } else {
              inFlight.push(...issue(op, model, store, term));
            }
            if (then === 'await') {
              await settle();
            } else if (then === 'next-tick') {
              await new Promise((resolve) => setImmediate(resolve));
            } else if (then === 'await-last') {
              // Only this op: later ops are issued while earlier ones may still be pending.
              await inFlight[inFlight.length - 1]?.[1];
            }
          }
          await settle();
          store = (await target.reopen()) ?? store;
          expect(readAll(store)).toEqual(readAll(model));
        } finally {
          await Promise.all(inFlight.flat());
          await store.close();
          await target.dispose();
        }
      }),
      { numRuns: 40 },
    );
  });
}
