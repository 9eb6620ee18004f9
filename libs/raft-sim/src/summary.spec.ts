import { runSeed } from './run-seed';
import { RunSummary, distribution, formatDistribution, formatSummary } from './summary';

describe('distribution', () => {
  it('takes nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, k) => k + 1);
    expect(distribution(values)).toEqual({ count: 100, p50: 50, p99: 99, max: 100 });
    expect(distribution([7])).toEqual({ count: 1, p50: 7, p99: 7, max: 7 });
    expect(distribution([])).toBeUndefined();
  });

  it('formats ticks and milliseconds', () => {
    expect(formatDistribution('x', { count: 2, p50: 190, p99: 300, max: 310 }, 10, 1000)).toBe('x (n=2): p50 19 ticks (190 ms), p99 30 ticks (300 ms), max 31 ticks (310 ms); target <= 1000 ms');
    expect(formatDistribution('x', undefined, 10)).toBe('x: no samples');
  });
});

describe('RunSummary', () => {
  it('prints the same summary whatever order the seeds finish in (workers finish in any order)', () => {
    const results = [1, 2, 3, 4].map((seed) => runSeed({ seed, safetyTicks: 100, skipLincheck: true }));
    const a = new RunSummary();
    const b = new RunSummary();
    results.forEach((r) => a.add(r));
    [...results].reverse().forEach((r) => b.add(r));
    expect(formatSummary(b, 10)).toEqual(formatSummary(a, 10));
    expect(a.seeds).toBe(4);
  });
});
