/**
 * The committed key-value data of MemoryStateMachine: the latest records (a map plus a sorted
 * key list) and the history (MemoryHistory). Reads capture their result synchronously, so a
 * read never straddles a commit.
 */
import type { KeyValue } from '../kv-types';
import type { KeyEvent } from '../engine/history';
import type { ScanRange } from '../engine/key-span';
import { keyString } from '../engine/key-span';
import type { KvBaseStore, KvSource, ScanMode } from '../engine/kv-source';
import { shapeRecord } from '../engine/kv-source';
import type { Slot } from '../engine/overlay-view';
import { MemoryHistory } from './memory-history';
import { SortedKeys } from './sorted-keys';
import type { ImportedItem } from '../snapshot/snapshot-import';
import { assertNever } from '../util/assert-never';

export class MemoryKvStore implements KvBaseStore {
  private readonly records = new Map<string, KeyValue>();
  private readonly keys = new SortedKeys();
  readonly history = new MemoryHistory();

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
    const found = this.keys.inRange(range).map((name) => shapeRecord(this.records.get(name) as KeyValue, mode));
    return {
      async *[Symbol.asyncIterator]() {
        yield* found;
      },
    };
  }

  at(revision: number): KvSource {
    return this.history.at(revision);
  }

  /** Applies a batch's writes (null deletes) and records its events. */
  commit(writes: ReadonlyMap<string, Slot>, events: readonly KeyEvent[]): void {
    for (const [key, slot] of writes) {
      if (slot === null) {
        if (this.records.delete(key)) {
          this.keys.remove(key);
        }
      } else {
        if (!this.records.has(key)) {
          this.keys.add(key);
        }
        this.records.set(key, slot);
      }
    }
    this.history.commit(events);
  }

  /** Adds one item of a snapshot being restored (sessions are the machine's). */
  restore(item: Exclude<ImportedItem, { type: 'session' | 'lease' }>): void {
    switch (item.type) {
      case 'latest': {
        const name = keyString(item.kv.key);
        this.keys.add(name);
        this.records.set(name, item.kv);
        break;
      }
      case 'version':
        this.history.restoreVersion(item.version);
        break;
      case 'revision':
        this.history.restoreRevision(item.record);
        break;
      default:
        assertNever(item);
    }
  }
}
