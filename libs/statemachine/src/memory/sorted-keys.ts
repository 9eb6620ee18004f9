/** A sorted set of keys (keyString form) with range queries, for the in-memory machine. */
import type { ScanRange } from '../engine/key-span';
import { keyString } from '../engine/key-span';

export class SortedKeys {
  private readonly sorted: string[] = [];

  get size(): number {
    return this.sorted.length;
  }

  add(name: string): void {
    const at = this.lowerBound(name);
    if (this.sorted[at] !== name) {
      this.sorted.splice(at, 0, name);
    }
  }

  remove(name: string): void {
    const at = this.lowerBound(name);
    if (this.sorted[at] === name) {
      this.sorted.splice(at, 1);
    }
  }

  /** Keys in `range`, ascending. */
  inRange(range: ScanRange): string[] {
    const start = keyString(range.start);
    const end = range.end === null ? null : keyString(range.end);
    const out: string[] = [];
    for (let i = this.lowerBound(start); i < this.sorted.length; i++) {
      const key = this.sorted[i] as string;
      if (end !== null && key >= end) {
        break;
      }
      out.push(key);
    }
    return out;
  }

  all(): readonly string[] {
    return this.sorted;
  }

  /** Index of the first key >= `key`. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.sorted[mid] as string) < key) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return lo;
  }
}
