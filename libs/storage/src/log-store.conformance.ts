/**
 * The LogStore conformance suite: every implementation (in-memory and durable) must pass it.
 * Durable implementations are also closed and reopened at each checkpoint, and must read back
 * exactly what they read before.
 *
 * Usage, in a spec file:
 *
 *     describeLogStoreConformance('MyStore', async () => ({ durable: true, open, cleanup }));
 */
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT, LogCompactedError, LogUnavailableError, RaftInvariantError, logIndex, nodeId } from '@keyval/raft';
import type { LogIndex } from '@keyval/raft';
import { StoreClosedError } from './errors';
import type { LogStore } from './log-store';
import { describeLogStoreModelCheck } from './log-store-model.conformance';
import { entries, entry, hardState, plain, snapshotMeta } from './testing/log-fixtures';

/** How the conformance suite gets at an implementation. */
export interface LogStoreHarness {
  /** True when the store keeps its data across close() and open(). */
  readonly durable: boolean;
  /** Opens the store: empty on the first call; for durable stores, the same data afterwards. */
  open(): Promise<LogStore>;
  /** Releases what the harness created (temporary directories). */
  cleanup(): Promise<void>;
}

/** Drives one store through a test, reopening it at checkpoints when durable. */
export class ConformanceContext {
  constructor(
    readonly harness: LogStoreHarness,
    public store: LogStore,
  ) {}

  /** Runs `check`, then (durable stores) closes, reopens and runs it again. */
  async checkpoint(check: (store: LogStore) => void): Promise<void> {
    check(this.store);
    if (this.harness.durable) {
      await this.store.close();
      this.store = await this.harness.open();
      check(this.store);
    }
  }
}

const ALL = Number.MAX_SAFE_INTEGER;
const i = logIndex;

/** Everything readable, in one comparable value. */
export function readAll(store: LogStore): unknown {
  const first = store.firstIndex();
  const last = store.lastIndex();
  return {
    hardState: store.hardState(),
    snapshot: store.snapshotMeta(),
    first,
    last,
    entries: plain(last >= first ? store.entries(first, (last + 1) as LogIndex, ALL) : []),
  };
}

/**
 * Declares the conformance tests (a jest `describe`) for the LogStore that `makeHarness` opens.
 * Each test gets a fresh harness and calls `cleanup` afterwards.
 */
export function describeLogStoreConformance(name: string, makeHarness: () => Promise<LogStoreHarness>): void {
  describe(`LogStore conformance: ${name}`, () => {
    let ctx: ConformanceContext;

    beforeEach(async () => {
      const harness = await makeHarness();
      ctx = new ConformanceContext(harness, await harness.open());
    });

    afterEach(async () => {
      await ctx.store.close();
      await ctx.harness.cleanup();
    });

    it('starts empty: first index 1, last index 0, term(0) = 0', async () => {
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(1);
        expect(s.lastIndex()).toBe(0);
        expect(s.term(i(0))).toBe(0);
        expect(() => s.term(i(1))).toThrow(LogUnavailableError);
        expect(s.entries(i(1), i(1), ALL)).toEqual([]);
        expect(() => s.entries(i(1), i(2), ALL)).toThrow(LogUnavailableError);
        expect(() => s.entries(i(0), i(1), ALL)).toThrow(LogCompactedError);
        expect(s.hardState()).toEqual(EMPTY_HARD_STATE);
        expect(s.snapshotMeta()).toEqual(EMPTY_SNAPSHOT);
        expect(s.health()).toEqual({ state: 'ok', writable: true });
      });
    });

    it('appends entries and reads them back intact', async () => {
      const written = [...entries(1, 5, 1), ...entries(6, 10, 2)];
      await ctx.store.append(written);
      await ctx.checkpoint((s) => {
        expect(s.lastIndex()).toBe(10);
        expect(plain(s.entries(i(1), i(11), ALL))).toEqual(plain(written));
        expect(s.term(i(5))).toBe(1);
        expect(s.term(i(6))).toBe(2);
        expect(() => s.term(i(11))).toThrow(LogUnavailableError);
        expect(plain(s.entries(i(4), i(7), ALL))).toEqual(plain(written.slice(3, 6)));
      });
    });

    it('pages entries by maxBytes: stops before passing it, but returns at least one', async () => {
      const sized = [1, 2, 3, 4, 5].map((index) => entry(index, 1, new Uint8Array(100)));
      await ctx.store.append(sized);
      await ctx.checkpoint((s) => {
        // entryBytes = 100 + 24 = 124 each.
        expect(s.entries(i(1), i(6), 0)).toHaveLength(1);
        expect(s.entries(i(1), i(6), 123)).toHaveLength(1);
        expect(s.entries(i(1), i(6), 248)).toHaveLength(2);
        expect(s.entries(i(1), i(6), 371)).toHaveLength(2);
        expect(s.entries(i(2), i(6), 372)).toHaveLength(3);
        expect(s.entries(i(1), i(6), ALL)).toHaveLength(5);
        expect(s.entries(i(3), i(3), 0)).toEqual([]);
      });
    });

    it('measures log bytes between indexes: additive, growing with the data, and only over entries it holds', async () => {
      await ctx.store.append([1, 2, 3, 4, 5, 6].map((index) => entry(index, 1, new Uint8Array(index * 100))));
      await ctx.store.compact(snapshotMeta(2, 1));
      await ctx.checkpoint((s) => {
        expect(s.logBytes(i(2), i(6))).toBe(s.logBytes(i(2), i(4)) + s.logBytes(i(4), i(6)));
        expect(s.logBytes(i(5), i(6))).toBeGreaterThanOrEqual(600);
        expect(s.logBytes(i(5), i(6))).toBeGreaterThan(s.logBytes(i(4), i(5)));
        expect(s.logBytes(i(0), i(6))).toBe(s.logBytes(i(2), i(6))); // compacted entries add nothing
        expect(s.logBytes(i(6), i(100))).toBe(0); // nor entries past the last index
        expect(s.logBytes(i(4), i(4))).toBe(0);
      });
    });

    it('truncates a conflicting suffix on append (follower repair, §5.3)', async () => {
      await ctx.store.append(entries(1, 10, 1));
      await ctx.store.append(entries(6, 8, 2));
      await ctx.checkpoint((s) => {
        expect(s.lastIndex()).toBe(8);
        expect(plain(s.entries(i(1), i(9), ALL))).toEqual(plain([...entries(1, 5, 1), ...entries(6, 8, 2)]));
      });
      await ctx.store.append(entries(9, 9, 2));
      await ctx.store.append(entries(2, 2, 3));
      await ctx.checkpoint((s) => {
        expect(s.lastIndex()).toBe(2);
        expect(s.term(i(2))).toBe(3);
      });
    });

    it('refuses appends that leave a gap, start at or before the snapshot, or are not contiguous', async () => {
      await ctx.store.append(entries(1, 5, 1));
      await ctx.store.compact(snapshotMeta(3, 1));
      await expect(ctx.store.append(entries(7, 8, 1))).rejects.toThrow(RaftInvariantError);
      await expect(ctx.store.append(entries(3, 4, 1))).rejects.toThrow(RaftInvariantError);
      await expect(ctx.store.append([entry(6, 1), entry(8, 1)])).rejects.toThrow(RaftInvariantError);
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(4);
        expect(s.lastIndex()).toBe(5);
      });
    });

    it('persists the hard state, keeping the last one written', async () => {
      await ctx.store.setHardState(hardState(1, 2, 0));
      await ctx.store.setHardState(hardState(3, 0, 0));
      await ctx.store.save({ entries: entries(1, 4, 3), hardState: hardState(3, 1, 4) });
      await ctx.checkpoint((s) => {
        expect(s.hardState()).toEqual(hardState(3, 1, 4));
        expect(s.lastIndex()).toBe(4);
      });
    });

    it('installs a snapshot that matches an entry and keeps the suffix after it (§7)', async () => {
      await ctx.store.append(entries(1, 10, 1));
      await ctx.store.applySnapshot(snapshotMeta(5, 1));
      await ctx.checkpoint((s) => {
        expect(s.snapshotMeta()).toEqual(snapshotMeta(5, 1));
        expect(s.firstIndex()).toBe(6);
        expect(s.lastIndex()).toBe(10);
        expect(s.term(i(5))).toBe(1);
        expect(() => s.term(i(4))).toThrow(LogCompactedError);
        expect(plain(s.entries(i(6), i(11), ALL))).toEqual(plain(entries(6, 10, 1)));
      });
    });

    it('installs a snapshot whose term differs and drops the whole log', async () => {
      await ctx.store.append(entries(1, 10, 1));
      await ctx.store.applySnapshot(snapshotMeta(5, 2));
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(6);
        expect(s.lastIndex()).toBe(5);
        expect(s.term(i(5))).toBe(2);
        expect(() => s.term(i(6))).toThrow(LogUnavailableError);
      });
    });

    it('installs a snapshot beyond the last index and continues appending after it', async () => {
      await ctx.store.append(entries(1, 3, 1));
      await ctx.store.save({ snapshot: snapshotMeta(20, 4), entries: entries(21, 22, 4), hardState: hardState(4, 1, 22) });
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(21);
        expect(s.lastIndex()).toBe(22);
        expect(s.hardState()).toEqual(hardState(4, 1, 22));
        expect(plain(s.entries(i(21), i(23), ALL))).toEqual(plain(entries(21, 22, 4)));
      });
    });

    it('refuses a snapshot older than the current one, changing nothing', async () => {
      await ctx.store.append(entries(1, 10, 1));
      await ctx.store.compact(snapshotMeta(6, 1));
      await expect(ctx.store.applySnapshot(snapshotMeta(5, 1))).rejects.toThrow(RaftInvariantError);
      await expect(ctx.store.save({ snapshot: snapshotMeta(8, 1), entries: entries(12, 12, 1) })).rejects.toThrow(RaftInvariantError);
      await ctx.checkpoint((s) => {
        expect(s.snapshotMeta().index).toBe(6);
        expect(s.lastIndex()).toBe(10);
      });
    });

    it('compacts: drops entries up to the snapshot; no-op when not newer; refuses past the end', async () => {
      await ctx.store.append(entries(1, 10, 2));
      await ctx.store.compact(snapshotMeta(4, 2));
      await ctx.store.compact(snapshotMeta(3, 2));
      await expect(ctx.store.compact(snapshotMeta(11, 2))).rejects.toThrow(RaftInvariantError);
      await expect(ctx.store.compact(snapshotMeta(8, 1))).rejects.toThrow(RaftInvariantError);
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(5);
        expect(s.term(i(4))).toBe(2);
        expect(() => s.entries(i(4), i(6), ALL)).toThrow(LogCompactedError);
        expect(plain(s.entries(i(5), i(11), ALL))).toEqual(plain(entries(5, 10, 2)));
      });
      await ctx.store.compact(snapshotMeta(10, 2));
      await ctx.store.append(entries(11, 12, 3));
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(11);
        expect(s.lastIndex()).toBe(12);
      });
    });

    it('keeps the membership configuration of snapshots', async () => {
      const config = { voters: [nodeId(1), nodeId(2), nodeId(0xffff_ffff_ffff_fffen)], learners: [nodeId(9)] };
      await ctx.store.append(entries(1, 3, 1));
      await ctx.store.compact(snapshotMeta(2, 1, config));
      await ctx.checkpoint((s) => expect(s.snapshotMeta()).toEqual(snapshotMeta(2, 1, config)));
    });

    it('serializes concurrent writers: all resolve in call order and the log holds them all', async () => {
      const resolved: number[] = [];
      const writes = [];
      for (let index = 1; index <= 300; index++) {
        writes.push(ctx.store.append([entry(index, 1)]).then(() => resolved.push(index)));
      }
      writes.push(ctx.store.setHardState(hardState(1, 1, 300)).then(() => resolved.push(301)));
      await Promise.all(writes);
      expect(resolved).toEqual(Array.from({ length: 301 }, (_, k) => k + 1));
      await ctx.checkpoint((s) => {
        expect(plain(s.entries(i(1), i(301), ALL))).toEqual(plain(entries(1, 300, 1)));
        expect(s.hardState()).toEqual(hardState(1, 1, 300));
      });
    });

    it('validates each write against the writes accepted before it, even before they are durable', async () => {
      const first = ctx.store.append(entries(1, 5, 1));
      const second = ctx.store.append(entries(4, 6, 2));
      const third = ctx.store.compact(snapshotMeta(5, 2));
      const gap = ctx.store.append(entries(9, 9, 2));
      await expect(Promise.all([first, second, third])).resolves.toBeDefined();
      await expect(gap).rejects.toThrow(RaftInvariantError);
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(6);
        expect(s.lastIndex()).toBe(6);
        expect(s.term(i(6))).toBe(2);
      });
    });

    it('validates against writes still pending after an earlier batch became durable', async () => {
      await ctx.store.append(entries(1, 3, 1));
      const first = ctx.store.append(entries(4, 6, 1));
      await new Promise((resolve) => setImmediate(resolve));
      // Issued while `first` is being written: replaces its entries 5 and 6.
      const repair = ctx.store.append(entries(5, 6, 2));
      await first;
      const compactRepaired = ctx.store.compact(snapshotMeta(5, 2));
      const compactStale = ctx.store.compact(snapshotMeta(6, 1));
      await expect(Promise.all([repair, compactRepaired])).resolves.toBeDefined();
      await expect(compactStale).rejects.toThrow(RaftInvariantError);
      await ctx.checkpoint((s) => {
        expect(s.firstIndex()).toBe(6);
        expect(s.lastIndex()).toBe(6);
        expect(s.term(i(6))).toBe(2);
      });
    });

    it('resolves sync() and unsynced saves, and shows their effect once resolved', async () => {
      await ctx.store.save({ entries: entries(1, 2, 1) }, { sync: false });
      expect(ctx.store.lastIndex()).toBe(2);
      await ctx.store.sync();
      await ctx.checkpoint((s) => expect(s.lastIndex()).toBe(2));
    });

    it('refuses writes after close()', async () => {
      await ctx.store.append(entries(1, 1, 1));
      await ctx.store.close();
      await expect(ctx.store.append(entries(2, 2, 1))).rejects.toThrow(StoreClosedError);
      expect(ctx.store.health().state).toBe('closed');
      ctx.store = await ctx.harness.open();
    });

    describeLogStoreModelCheck(async () => {
      const harness = await makeHarness();
      let store = await harness.open();
      return {
        store,
        reopen: async () => {
          if (!harness.durable) {
            return undefined;
          }
          await store.close();
          store = await harness.open();
          return store;
        },
        dispose: () => harness.cleanup(),
      };
    });
  });
}
