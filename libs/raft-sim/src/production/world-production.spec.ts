import { EntryType } from '@keyval/raft';
import type { Entry, LogIndex, Term } from '@keyval/raft';
import { runSeed, runSeedAsync } from '../run-seed';

/**
 * Production members (RaftDriver + WalLogStore on a SimFileSystem + MemoryStateMachine) inside
 * SimWorld: the default member's fault injector, clients, protocol and safety checkers, liveness
 * phase and linearizability check.
 */
describe('production members in SimWorld (--member production)', () => {
  it('replays exactly: the same seed gives the same trace hash', async () => {
    const a = await runSeedAsync({ seed: 3, member: 'production' });
    const b = await runSeedAsync({ seed: 3, member: 'production' });
    expect(a.violation).toBeUndefined();
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.events).toBe(a.events);
    // A different member kind is a different run of the same seed.
    expect(runSeed({ seed: 3 }).traceHash).not.toBe(a.traceHash);
  }, 60_000);

  it('runs clients, faults and every check on production members, seeds 1-6 clean', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = await runSeedAsync({ seed, member: 'production' });
      expect({ seed, violation: r.violation?.detail }).toEqual({ seed, violation: undefined });
      // Client writes and reads went through the driver and were checked for linearizability.
      expect(r.ops.ok).toBeGreaterThan(0);
      expect(r.lincheck).toBe('linearizable');
      // The liveness probe's own-term commit is read from the driver's Ready stream (onReady).
      expect(r.ownTermCommitMs).toBeDefined();
      expect(r.leaders).toBeGreaterThan(0);
    }
  }, 120_000);

  it('refuses a targeted scenario (scenarios run only on the simulation\'s own member)', async () => {
    await expect(runSeedAsync({ seed: 1, member: 'production', scenario: 'figure8' })).rejects.toThrow(/only on the simulation's own member/);
  });
});

describe('DurabilityWatch (what a recovered WAL must hold)', () => {
  it('accepts the resolved state or it with a prefix of the saves in flight at a crash (a conflicting suffix the member replaced)', async () => {
    const { DurabilityWatch } = await import('./production-member');
    const entry = (index: number, term: number): Entry => ({ index: index as LogIndex, term: term as Term, type: EntryType.Normal, data: new Uint8Array(0) });
    const watch = new DurabilityWatch();
    const durable = { entries: [entry(1, 1), entry(2, 2), entry(3, 2), entry(4, 2)] };
    watch.issued(durable);
    watch.resolved(durable);
    // A new leader's entry 3 of term 3 replaces 3..4 of term 2; the crash comes before its fsync.
    const replacing = { entries: [entry(3, 3)] };
    watch.issued(replacing);
    expect(watch.candidates().map((c) => c.terms)).toEqual([
      [0, 1, 2, 2, 2],
      [0, 1, 2, 3],
    ]);
    watch.resolved(replacing);
    expect(watch.pending).toEqual([]);
    expect(watch.candidates().map((c) => c.terms)).toEqual([[0, 1, 2, 3]]);
  });
});
