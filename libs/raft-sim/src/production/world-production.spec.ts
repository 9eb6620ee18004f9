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
