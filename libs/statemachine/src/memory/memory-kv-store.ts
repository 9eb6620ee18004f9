/**
 * The committed key-value data of MemoryStateMachine: a map plus a sorted key list. Reads
 * capture their result synchronously, so a read never straddles a commit.
 */
import type { KeyValue } from '../kv-types';
import type { ScanRange } from '../engine/key-span';
import { keyString } from '../engine/key-span';
import type { KvBaseStore, ScanMode } from '../engine/kv-source';
import { shapeRecord } from '../engine/kv-source';
import type { Slot } from '../engine/overlay-view';

export class MemoryKvStore implements KvBaseStore {
  private readonly records = new Map<string, KeyValue>();
  /** Every key of `records`, ascending. */
  private readonly sorted: string[] = [];

  get size(): number {
    return this.records.size;
  }

  get(key: Uint8Array): Promise<KeyValue | undefined> {
    return Promise.resolve(this.records.get(keyString(key)));
  }

  getMany(keys: readonly Uint8Array[]): Promise<Array<KeyValue | undefined>> {
    return Promise.resolve(keys.map((key) => this.records.get(keyString(key))));
  }

  scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    const found = this.collect(range, mode);
    return {
      async *[Symbol.asyncIterator]() {
        yield* found;
      },
    };
  }

  /** Records in `range`, ascending, captured now. */
  collect(range: ScanRange, mode: ScanMode): KeyValue[] {
    const start = keyString(range.start);
    const end = range.end === null ? null : keyString(range.end);
    const out: KeyValue[] = [];
    for (let i = this.lowerBound(start); i < this.sorted.length; i++) {
      const key = this.sorted[i] as string;
      if (end !== null && key >= end) {
        break;
      }
      const kv = this.records.get(key) as KeyValue;
      out.push(shapeRecord(kv, mode));
    }
    return out;
  }

  /** Every record, ascending. */
  all(): KeyValue[] {
    return this.sorted.map((key) => this.records.get(key) as KeyValue);
  }

  /** Applies a batch's writes (null deletes). */
  commit(writes: ReadonlyMap<string, Slot>): void {
    for (const [key, slot] of writes) {
      const exists = this.records.has(key);
      if (slot === null) {
        if (exists) {
          this.records.delete(key);
          this.sorted.splice(this.lowerBound(key), 1);
        }
      } else {
        if (!exists) {
          this.sorted.splice(this.lowerBound(key), 0, key);
        }
        this.records.set(key, slot);
      }
    }
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
