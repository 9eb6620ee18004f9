import { runSeed } from '../run-seed';
import type { SeedResult } from '../run-seed';
import { SCENARIOS, SCENARIO_NAMES, findScenario } from './index';

/** Seeds per scenario in the default suite (the mutation suite runs many more). */
const SEEDS = 6;

describe('targeted scenarios on the production core', () => {
  it('are named uniquely and found by name', () => {
    expect(new Set(SCENARIO_NAMES).size).toBe(SCENARIOS.length);
    expect(SCENARIO_NAMES).toEqual(['figure8', 'deposed-leader', 'lost-vote', 'snapshot-conflict', 'membership-partition', 'client-retry']);
    expect(findScenario('figure8')?.summary).toContain('§5.4.2');
    expect(findScenario('nope')).toBeUndefined();
    expect(() => runSeed({ seed: 1, scenario: 'nope' })).toThrow('unknown scenario "nope"');
  });

  describe.each(SCENARIO_NAMES.map((name) => [name]))('%s', (name) => {
    const results: SeedResult[] = [];

    beforeAll(() => {
      for (let seed = 1; seed <= SEEDS; seed++) {
        results.push(runSeed({ seed, scenario: name }));
      }
    }, 120_000);

    it('runs clean: no violation, a linearizable history', () => {
      expect(results.filter((r) => r.violation !== undefined).map((r) => `seed ${r.seed}: ${r.violation?.kind}: ${r.violation?.detail.split('\n')[0] ?? ''}\n  replay: npm run sim -- --seed ${r.seed} --scenario ${name} --verbose`)).toEqual([]);
      expect(results.every((r) => r.schedule === name && r.profile.includes(`mix=scenario:${name}`))).toBe(true);
      expect(results.every((r) => r.lincheck === 'linearizable' || r.lincheck === 'unknown')).toBe(true);
    });

    it('springs its trap in most seeds (the sequence lines up)', () => {
      const sprung = results.filter((r) => r.counters.scenarioTraps > 0).length;
      expect(sprung).toBeGreaterThanOrEqual(SEEDS / 2);
    });
  });

  it('replays a scenario seed exactly', () => {
    const a = runSeed({ seed: 4, scenario: 'figure8', skipLincheck: true });
    const b = runSeed({ seed: 4, scenario: 'figure8', skipLincheck: true });
    expect(a.traceHash).toBe(b.traceHash);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(runSeed({ seed: 4, skipLincheck: true, safetyTicks: 100 }).traceHash).not.toBe(a.traceHash);
  });
});
