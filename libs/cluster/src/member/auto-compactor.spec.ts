import { CompactedError, FutureRevisionError } from '@keyval/statemachine';
import { ManualClock } from '../testing/manual-clock';
import { AutoCompactor, CompactionRetentionError, REVISION_COMPACTION_INTERVAL_MS, parseCompactionRetention } from './auto-compactor';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A store whose revision grows by `perMinute` each minute of the clock, compacting as told. */
function store(clock: ManualClock, perMinute: number) {
  const state = { leader: true, compactions: [] as number[], compacted: -1, failNext: undefined as Error | undefined };
  const target = {
    revision: () => 1 + Math.floor(clock.nowMs() / MINUTE) * perMinute,
    isLeader: () => state.leader,
    compact: async (revision: number) => {
      if (state.failNext !== undefined) {
        const error = state.failNext;
        state.failNext = undefined;
        throw error;
      }
      if (revision <= state.compacted) {
        throw CompactedError.of(revision, state.compacted);
      }
      state.compacted = revision;
      state.compactions.push(revision);
    },
  };
  return { state, target };
}

describe('parseCompactionRetention (etcd’s flag)', () => {
  it('reads integers as hours (periodic) or revisions, and Go durations', () => {
    expect(parseCompactionRetention('periodic', '1')).toBe(HOUR);
    expect(parseCompactionRetention('revision', '1000')).toBe(1000);
    expect(parseCompactionRetention('periodic', '90m')).toBe(90 * MINUTE);
    expect(parseCompactionRetention('periodic', '1h30m')).toBe(90 * MINUTE);
    expect(parseCompactionRetention('periodic', '2.5h')).toBe(150 * MINUTE);
    expect(parseCompactionRetention('periodic', '30s')).toBe(30_000);
    expect(parseCompactionRetention('periodic', '0')).toBeUndefined();
    expect(parseCompactionRetention('revision', '0')).toBeUndefined();
  });

  it('refuses what is neither', () => {
    expect(() => parseCompactionRetention('periodic', '1 hour')).toThrow(CompactionRetentionError);
    expect(() => parseCompactionRetention('periodic', '')).toThrow(CompactionRetentionError);
    expect(() => parseCompactionRetention('periodic', '-1')).toThrow(CompactionRetentionError);
    expect(() => parseCompactionRetention('revision', '10m')).toThrow(/number of revisions/);
  });
});

describe('AutoCompactor', () => {
  it('periodic: first compacts once the retention has passed, at the revision from a retention ago, then every retention', async () => {
    const clock = new ManualClock();
    const { state, target } = store(clock, 10);
    const compactor = new AutoCompactor({ mode: 'periodic', retention: 10 * MINUTE }, target, clock);
    compactor.start();
    expect(compactor.intervalMs).toBe(MINUTE);
    await clock.advance(9 * MINUTE);
    expect(state.compactions).toEqual([]);
    await clock.advance(MINUTE);
    // At minute 10 it compacts at the revision noted at minute 0.
    expect(state.compactions).toEqual([1]);
    await clock.advance(10 * MINUTE);
    // At minute 20, at the oldest of the 11 revisions noted (as etcd: minutes 9..19).
    expect(state.compactions).toEqual([1, 91]);
    await compactor.stop();
  });

  it('periodic: a retention over an hour compacts hourly, keeping the retention', async () => {
    const clock = new ManualClock();
    const { state, target } = store(clock, 1);
    const compactor = new AutoCompactor({ mode: 'periodic', retention: 3 * HOUR }, target, clock);
    compactor.start();
    expect(compactor.intervalMs).toBe(6 * MINUTE);
    await clock.advance(3 * HOUR);
    expect(state.compactions).toEqual([1]);
    await clock.advance(HOUR);
    // Hour 4: the oldest of the 31 revisions noted every 6 minutes (minute 54).
    expect(state.compactions).toEqual([1, 55]);
    await compactor.stop();
  });

  it('revision: every five minutes at current − retention, skipping a repeat and a non-positive one', async () => {
    const clock = new ManualClock();
    const { state, target } = store(clock, 100);
    const compactor = new AutoCompactor({ mode: 'revision', retention: 1000 }, target, clock);
    compactor.start();
    await clock.advance(REVISION_COMPACTION_INTERVAL_MS);
    expect(state.compactions).toEqual([]); // 501 − 1000 ≤ 0
    await clock.advance(10 * MINUTE);
    expect(state.compactions).toEqual([1, 501]); // minute 10: 1001 − 1000; minute 15: 1501 − 1000
    await compactor.stop();
  });

  it('only the leader compacts; failures are retried, "already compacted" counts as done', async () => {
    const clock = new ManualClock();
    const { state, target } = store(clock, 100);
    const compactor = new AutoCompactor({ mode: 'revision', retention: 100 }, target, clock);
    compactor.start();
    state.leader = false;
    await clock.advance(REVISION_COMPACTION_INTERVAL_MS);
    expect(state.compactions).toEqual([]);
    state.leader = true;
    state.failNext = FutureRevisionError.of(1, 1);
    await clock.advance(REVISION_COMPACTION_INTERVAL_MS);
    expect(state.compactions).toEqual([]);
    await clock.advance(REVISION_COMPACTION_INTERVAL_MS);
    expect(state.compactions).toEqual([1401]);
    state.compacted = 5000;
    await clock.advance(REVISION_COMPACTION_INTERVAL_MS);
    expect(state.compactions).toEqual([1401]);
    await compactor.stop();
  });
});
