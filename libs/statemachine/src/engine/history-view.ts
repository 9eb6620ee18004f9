/**
 * The keys as they were at a past revision, during apply: the committed history (a store's
 * `at(revision)`) under the events of the batch's earlier commands that the committed store
 * does not hold yet. Apply batches differ in size between members, so a txn reading the past
 * must see the batch's own earlier revisions exactly as if they were committed.
 */
import type { KeyValue } from '../kv-types';
import type { KeyEvent } from './history';
import type { ScanRange } from './key-span';
import { inBounds, keyString, scanBounds } from './key-span';
import type { KvSource, ScanMode } from './kv-source';
import { shapeRecord } from './kv-source';

export class HistoryView implements KvSource {
  /** The last pending event at or below the revision of each key, by keyString. */
  private readonly pending = new Map<string, KeyEvent>();

  constructor(
    private readonly committed: KvSource,
    events: readonly KeyEvent[],
    revision: number,
  ) {
    for (const event of events) {
      if (event.kv.modRevision <= revision) {
        this.pending.set(keyString(event.kv.key), event);
      }
    }
  }

  get(key: Uint8Array): Promise<KeyValue | undefined> {
    const event = this.pending.get(keyString(key));
    if (event !== undefined) {
      return Promise.resolve(event.type === 'put' ? event.kv : undefined);
    }
    return this.committed.get(key);
  }

  async *scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    if (this.pending.size === 0) {
      yield* this.committed.scan(range, mode);
      return;
    }
    const bounds = scanBounds(range);
    const names = [...this.pending.keys()].filter((name) => inBounds(name, bounds)).sort();
    let next = 0;
    const pendingRecord = (name: string): KeyValue | undefined => {
      const event = this.pending.get(name) as KeyEvent;
      return event.type === 'put' ? shapeRecord(event.kv, mode) : undefined;
    };
    for await (const kv of this.committed.scan(range, mode)) {
      const name = keyString(kv.key);
      while (next < names.length && (names[next] as string) <= name) {
        const own = names[next++] as string;
        const record = pendingRecord(own);
        if (record !== undefined) {
          yield record;
        }
      }
      if (next > 0 && names[next - 1] === name) {
        continue;
      }
      yield kv;
    }
    while (next < names.length) {
      const record = pendingRecord(names[next++] as string);
      if (record !== undefined) {
        yield record;
      }
    }
  }
}
