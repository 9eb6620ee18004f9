import { EventQueue } from './event-queue';

describe('EventQueue', () => {
  it('runs events in time order, and same-time events in the order they were scheduled', () => {
    const q = new EventQueue();
    const order: string[] = [];
    q.push(30, () => order.push('c'));
    q.push(10, () => order.push('a1'));
    q.push(20, () => order.push('b'));
    q.push(10, () => order.push('a2'));
    q.push(10, () => order.push('a3'));
    for (let e = q.pop(); e !== undefined; e = q.pop()) {
      e.run();
    }
    expect(order).toEqual(['a1', 'a2', 'a3', 'b', 'c']);
  });

  it('keeps the heap order over many random pushes and pops', () => {
    const q = new EventQueue();
    let x = 12345;
    const next = (): number => (x = (x * 1103515245 + 12345) % 2 ** 31) % 1000;
    for (let k = 0; k < 2000; k++) {
      q.push(next(), () => undefined);
    }
    let last = { time: -1, seq: -1 };
    while (q.size > 0) {
      const e = q.pop()!;
      expect(e.time > last.time || (e.time === last.time && e.seq > last.seq)).toBe(true);
      last = e;
    }
  });

  it('refuses times that are not non-negative integers', () => {
    const q = new EventQueue();
    expect(() => q.push(-1, () => undefined)).toThrow(RangeError);
    expect(() => q.push(1.5, () => undefined)).toThrow(RangeError);
    expect(() => q.push(Number.NaN, () => undefined)).toThrow(RangeError);
  });
});
