import { SeededRandom } from '../crash/seeded-random';
import { ALL_FAULTS } from './chaos-options';
import { OVERLAY_FAULTS, PRIMARY_FAULTS, VARIANTS, partitionRules, planFaults } from './fault-plan';

const base = { durationMs: 120_000, faults: ALL_FAULTS, faultWindowMs: 8_000, quietMs: 3_000, seed: 7 };

describe('planFaults', () => {
  it('is a function of its options: the same seed gives the same plan, another seed another', () => {
    expect(planFaults(base)).toEqual(planFaults(base));
    expect(planFaults({ ...base, seed: 8 })).not.toEqual(planFaults(base));
  });

  it('keeps primary windows inside the run, apart, and in order, with overlays inside a window', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const plan = planFaults({ ...base, seed });
      const primaries = plan.filter((f) => PRIMARY_FAULTS.includes(f.kind));
      expect(primaries.length).toBeGreaterThan(5);
      for (const [k, f] of primaries.entries()) {
        expect(f.startMs).toBeGreaterThanOrEqual(1_000);
        expect(f.endMs).toBeLessThanOrEqual(base.durationMs);
        expect(f.endMs - f.startMs).toBeGreaterThanOrEqual(base.faultWindowMs / 3 - 1);
        expect(f.endMs - f.startMs).toBeLessThanOrEqual(base.faultWindowMs + 1);
        expect(VARIANTS[f.kind]).toContain(f.variant);
        const next = primaries[k + 1];
        if (next !== undefined) expect(next.startMs).toBeGreaterThanOrEqual(f.endMs);
      }
      for (const o of plan.filter((f) => OVERLAY_FAULTS.includes(f.kind))) {
        expect(o.endMs).toBe(o.startMs);
        expect(primaries.some((p) => p.startMs < o.startMs && o.startMs < p.endMs)).toBe(true);
      }
      expect(plan.map((f) => f.startMs)).toEqual([...plan.map((f) => f.startMs)].sort((a, b) => a - b));
    }
  });

  it('uses only the faults asked for; overlays alone get their own slots; none gives nothing', () => {
    const only = planFaults({ ...base, faults: ['kill', 'pause'] });
    expect(new Set(only.map((f) => f.kind))).toEqual(new Set(['kill', 'pause']));
    const transfers = planFaults({ ...base, faults: ['transfer'] });
    expect(transfers.length).toBeGreaterThan(5);
    expect(transfers.every((f) => f.kind === 'transfer')).toBe(true);
    expect(planFaults({ ...base, faults: [] })).toEqual([]);
  });

  it('refuses windows too short to mean anything and negative quiet time', () => {
    expect(() => planFaults({ ...base, faultWindowMs: 100 })).toThrow(RangeError);
    expect(() => planFaults({ ...base, quietMs: -1 })).toThrow(RangeError);
  });
});

describe('partitionRules', () => {
  const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const blocked = (rules: { at: string; from: string }[], a: string, b: string): boolean => rules.some((r) => r.at === a && r.from === b);

  it('halves: a minority and a majority, cut both ways and nothing else', () => {
    const { rules } = partitionRules('halves', members, 'n1', new SeededRandom(3));
    const cutOff = new Set(rules.map((r) => r.at));
    expect(cutOff.size).toBe(5);
    // every member is cut from exactly the members of the other side
    const sides = members.map((m) => rules.filter((r) => r.at === m).length).sort();
    expect(sides).toEqual([2, 2, 2, 3, 3]);
    for (const r of rules) expect(blocked(rules, r.from, r.at)).toBe(true);
  });

  it('isolated-leader: the leader is cut from every other member, the others still talk', () => {
    const { rules, description } = partitionRules('isolated-leader', members, 'n3', new SeededRandom(1));
    for (const m of members.filter((x) => x !== 'n3')) {
      expect(blocked(rules, m, 'n3')).toBe(true);
      expect(blocked(rules, 'n3', m)).toBe(true);
    }
    expect(rules).toHaveLength(8);
    expect(description).toBe('n3 | n1,n2,n4,n5');
  });

  it('leader-minority puts the leader on the minority side', () => {
    const { rules } = partitionRules('leader-minority', members, 'n2', new SeededRandom(5));
    expect(rules.filter((r) => r.at === 'n2')).toHaveLength(3);
  });

  it('bridge: the bridge member keeps every link; the two sides cannot reach each other', () => {
    const { rules, description } = partitionRules('bridge', members, 'n1', new SeededRandom(9));
    const bridge = /<-> (n\d) <->/.exec(description)?.[1];
    expect(bridge).toBeDefined();
    expect(rules.some((r) => r.at === bridge || r.from === bridge)).toBe(false);
    expect(rules).toHaveLength(8);
  });

  it('one-way: only the peer ports of the others drop the leader', () => {
    const { rules } = partitionRules('one-way', members, 'n4', new SeededRandom(2));
    expect(rules).toHaveLength(4);
    expect(rules.every((r) => r.from === 'n4' && r.at !== 'n4' && r.peerPortsOnly)).toBe(true);
  });

  it('picks a member when no leader is known, and refuses unknown variants', () => {
    expect(partitionRules('isolated-leader', members, undefined, new SeededRandom(4)).rules).toHaveLength(8);
    expect(() => partitionRules('ring', members, 'n1', new SeededRandom(4))).toThrow(RangeError);
  });
});

describe('planFaults coverage', () => {
  it('draws every enabled primary fault once before repeating one', () => {
    const plan = planFaults({ ...base, durationMs: 600_000 }).filter((f) => PRIMARY_FAULTS.includes(f.kind));
    const enabled = ALL_FAULTS.filter((f) => PRIMARY_FAULTS.includes(f));
    for (let round = 0; (round + 1) * enabled.length <= plan.length; round++) {
      const kinds = plan.slice(round * enabled.length, (round + 1) * enabled.length).map((f) => f.kind);
      expect(new Set(kinds)).toEqual(new Set(enabled));
    }
  });
});
