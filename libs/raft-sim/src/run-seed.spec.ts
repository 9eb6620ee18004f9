import { createHash } from 'node:crypto';
import { chooseProfile } from './fault-profile';
import { runSeed } from './run-seed';
import type { SeedResult } from './run-seed';
import { ViolationKind } from './sim.errors';

/** Everything deterministic about a result (wall-clock fields excluded). */
function fingerprint(r: SeedResult): string {
  return JSON.stringify(r);
}

describe('runSeed', () => {
  it('replays a seed exactly: same seed, identical trace hash and result', () => {
    const a = runSeed({ seed: 3 });
    const b = runSeed({ seed: 3 });
    expect(a.traceHash).toBe(b.traceHash);
    expect(fingerprint(a)).toBe(fingerprint(b));
    expect(a.events).toBeGreaterThan(1000);
  });

  it('traces the same events however many lines it keeps, and hands every line to a sink', () => {
    const lines: string[] = [];
    const a = runSeed({ seed: 2, traceTail: 5, onTrace: (line) => lines.push(line), skipLincheck: true });
    const b = runSeed({ seed: 2, traceTail: 500, skipLincheck: true });
    expect(a.traceHash).toBe(b.traceHash);
    expect(lines.length).toBeGreaterThan(100);
    const again: string[] = [];
    runSeed({ seed: 2, onTrace: (line) => again.push(line), skipLincheck: true });
    expect(createHash('sha256').update(again.join('\n')).digest('hex')).toBe(createHash('sha256').update(lines.join('\n')).digest('hex'));
  });

  it('runs seed 1558 clean: acknowledgements of term 3 leaving after a term-4 leader truncated the log in the same Ready are harmless', () => {
    const r = runSeed({ seed: 1558, skipLincheck: true });
    expect(r.violation).toBeUndefined();
  });

  it('gives different seeds different runs', () => {
    const hashes = new Set([1, 2, 3, 4, 5].map((seed) => runSeed({ seed, safetyTicks: 100, skipLincheck: true }).traceHash));
    expect(hashes.size).toBe(5);
  });

  it('honours the member count and safety-phase length overrides', () => {
    const r = runSeed({ seed: 3, members: 7, safetyTicks: 200, skipLincheck: true });
    expect(r.members).toBe(7);
    expect(r.profile).toContain('members=7');
    expect(r.profile).toContain('safety=200 ticks');
    expect(chooseProfile(3, { members: 5 }).members).toBe(5);
  });

  it('runs a clean seed through both phases with measurements and a linearizable history', () => {
    const r = runSeed({ seed: 1 });
    expect(r.violation).toBeUndefined();
    expect(r.firstLeaderMs).toBeGreaterThan(0);
    expect(r.recoveryMs).toBeDefined();
    expect(r.ops.ok).toBeGreaterThan(50);
    expect(r.lincheck).toBe('linearizable');
    expect(r.lost).toBe(0);
  });

  it.each([1, 2, 3])('probes a re-election in the liveness phase with %i voters, so the own-term commit is always checked', (members) => {
    const lines: string[] = [];
    const r = runSeed({ seed: 4, members, safetyTicks: 100, skipLincheck: true, onTrace: (line) => lines.push(line) });
    expect(r.violation).toBeUndefined();
    expect(lines.some((line) => line.includes('liveness: probe crashes leader'))).toBe(true);
    expect(r.ownTermCommitMs).toBeDefined();
    // Only with a quorum left without the crashed leader is the re-election time a clean one.
    const voters = /probe crashes leader m\d+ of term \d+ \((\d+) voters\)/.exec(lines.join('\n'));
    expect(voters).not.toBeNull();
    expect(r.reelectionMs === undefined).toBe(Number(voters![1]) < 3);
  });

  it.each([
    // Seen where it happens: the vote leaves while the disk does not hold it.
    ['drop-hard-state' as const, 1, 6, {}, ViolationKind.UndurablePromise, 6],
    ['lying-fsync' as const, 1, 6, {}, ViolationKind.UndurablePromise, 6],
    ['ack-before-fsync' as const, 1, 6, {}, ViolationKind.UndurablePromise, 6],
    // Without the protocol checker only the rare consequence is left: a double vote.
    ['drop-hard-state' as const, 1, 20, { classicChecks: true }, ViolationKind.ElectionSafety, 2],
  ])('catches a deliberately broken driver (%s) in seeds %i..%i (%j)', (mutation, first, last, extra, kind, atLeast) => {
    const caught: SeedResult[] = [];
    for (let seed = first; seed <= last; seed++) {
      const r = runSeed({ seed, mutation, skipLincheck: true, ...extra });
      if (r.violation !== undefined) {
        caught.push(r);
      }
    }
    expect(caught.length).toBeGreaterThanOrEqual(atLeast);
    expect(caught.some((r) => r.violation?.kind === kind)).toBe(true);
    for (const r of caught) {
      expect(r.violation?.trace.length).toBeGreaterThan(0);
      expect(r.violation?.members.length).toBeGreaterThan(0);
    }
  });
});
