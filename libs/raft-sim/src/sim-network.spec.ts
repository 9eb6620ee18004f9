import { SimNetwork, planPartition } from './sim-network';
import type { PartitionPlan } from './sim-network';
import { SimRandom } from './sim-random';

const calm = { dropProb: 0, dupProb: 0, delay: { baseMs: 1, jitterMs: 4, tailProb: 0, tailMeanMs: 0 } };

/** Who can reach whom under a plan: a set of "a>b". */
function reachable(plan: PartitionPlan, members: readonly number[]): Set<string> {
  const net = new SimNetwork(new SimRandom(1), calm);
  net.apply(plan);
  const out = new Set<string>();
  for (const a of members) {
    for (const b of members) {
      if (a !== b && net.linkOpen(a, b)) {
        out.add(`${a}>${b}`);
      }
    }
  }
  return out;
}

describe('SimNetwork', () => {
  it('delivers every message once within the delay bounds when calm', () => {
    const net = new SimNetwork(new SimRandom(7), calm);
    for (let k = 0; k < 1000; k++) {
      const delays = net.plan(1, 2);
      expect(delays).toHaveLength(1);
      expect(delays[0]).toBeGreaterThanOrEqual(1);
      expect(delays[0]).toBeLessThanOrEqual(5);
    }
  });

  it('drops and duplicates messages at about the configured rates', () => {
    const net = new SimNetwork(new SimRandom(7), { ...calm, dropProb: 0.2, dupProb: 0.1 });
    let copies = 0;
    const n = 20_000;
    for (let k = 0; k < n; k++) {
      copies += net.plan(1, 2).length;
    }
    expect(net.stats.dropped / n).toBeGreaterThan(0.18);
    expect(net.stats.dropped / n).toBeLessThan(0.22);
    expect(net.stats.duplicated / (n - net.stats.dropped)).toBeGreaterThan(0.08);
    expect(net.stats.duplicated / (n - net.stats.dropped)).toBeLessThan(0.12);
    expect(copies).toBe(n - net.stats.dropped + net.stats.duplicated);
  });

  it('reorders messages: independent delays let a later message arrive first', () => {
    const net = new SimNetwork(new SimRandom(3), { ...calm, delay: { baseMs: 0, jitterMs: 20, tailProb: 0, tailMeanMs: 0 } });
    let overtaken = 0;
    for (let k = 0; k < 200; k++) {
      const [first] = net.plan(1, 2);
      const [second] = net.plan(1, 2);
      if (second! + 1 < first!) {
        overtaken++;
      }
    }
    expect(overtaken).toBeGreaterThan(10);
  });

  it('cuts both directions of a symmetric partition, and heal restores every link', () => {
    const members = [1, 2, 3, 4, 5];
    const plan = planPartition('majority-minority', members, undefined, new SimRandom(11));
    const links = reachable(plan, members);
    const sides = new Map<number, number>();
    for (const m of members) {
      sides.set(m, members.filter((o) => o !== m && links.has(`${m}>${o}`)).length);
    }
    // Majority side members reach 2 others, minority side members reach 1.
    expect([...sides.values()].sort()).toEqual([1, 1, 2, 2, 2]);
    for (const l of links) {
      const [a, b] = l.split('>');
      expect(links.has(`${b}>${a}`)).toBe(true);
    }
    const net = new SimNetwork(new SimRandom(1), calm);
    net.apply(plan);
    expect(net.partitioned).toBe(true);
    net.heal();
    expect(net.partitioned).toBe(false);
    expect(net.plan(1, 2)).toHaveLength(1);
  });

  it('isolates the leader it is given', () => {
    const plan = planPartition('isolate-leader', [1, 2, 3], 2, new SimRandom(5));
    const links = reachable(plan, [1, 2, 3]);
    expect([...links].sort()).toEqual(['1>3', '3>1']);
  });

  it('makes a one-way partition: the deaf side hears the others but cannot answer', () => {
    const members = [1, 2, 3];
    const plan = planPartition('one-way', members, undefined, new SimRandom(9));
    const links = reachable(plan, members);
    const oneWay = [...links].filter((l) => {
      const [a, b] = l.split('>');
      return !links.has(`${b}>${a}`);
    });
    expect(oneWay.length).toBeGreaterThan(0);
    expect(plan.description).toContain('one-way');
  });

  it('keeps a bridge member connected to both halves while the halves cannot talk', () => {
    const members = [1, 2, 3, 4, 5];
    const plan = planPartition('bridge', members, undefined, new SimRandom(21));
    const links = reachable(plan, members);
    const bridge = members.find((m) => members.every((o) => o === m || (links.has(`${m}>${o}`) && links.has(`${o}>${m}`))));
    expect(bridge).toBeDefined();
    const others = members.filter((m) => m !== bridge);
    const cutPairs = others.flatMap((a) => others.filter((b) => a < b && !links.has(`${a}>${b}`)));
    expect(cutPairs.length).toBeGreaterThan(0);
    expect(plan.description).toMatch(/^bridge \d between/);
  });

  it('drops messages on a cut link and counts them', () => {
    const net = new SimNetwork(new SimRandom(1), calm);
    net.apply({ kind: 'one-way', description: 'test', cuts: [[1, 2]] });
    expect(net.plan(1, 2)).toEqual([]);
    expect(net.plan(2, 1)).toHaveLength(1);
    expect(net.stats.cutOff).toBe(1);
  });
});
