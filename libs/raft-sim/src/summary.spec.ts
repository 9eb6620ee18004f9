import { distribution, formatDistribution } from './summary';

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
