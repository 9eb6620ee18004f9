/**
 * The apply batch's view of the data: the committed base store with the batch's own writes on
 * top, so every read during apply (a compare, a prev_kv, a txn's range) sees the writes of the
 * commands before it in the same batch, before anything reaches the disk.
 *
 *     layer n (open txn)   ─┐ top wins; a txn that fails drops its layer
 *     ...                   │
 *     layer 0 (the batch)  ─┘ becomes the RocksDB write batch
 *     clean cache             committed records read (or prefetched) during this batch
 *     base store              committed data (RocksDB, or the in-memory map)
 *
 * A layer maps a key (see keyString) to its new record, or to null for a deletion.
 */
import { invariant } from '../errors';
import type { KeyValue } from '../kv-types';
import type { ScanRange } from './key-span';
import { inBounds, keyString, scanBounds } from './key-span';
import type { KvBaseStore, KvSource, ScanMode } from './kv-source';
import { shapeRecord } from './kv-source';

/** A record or a deletion marker. */
export type Slot = KeyValue | null;

export class OverlayView implements KvSource {
  /** layers[0] holds the batch's committed commands; higher layers are open txns. */
  private readonly layers: Array<Map<string, Slot>> = [new Map()];
  /** Committed state read from the base during this batch: null = known missing. */
  private readonly clean = new Map<string, Slot>();

  constructor(private readonly base: KvBaseStore) {}

  /** Reads many committed keys in one round trip so later gets need no I/O. */
  async prefetch(keys: readonly Uint8Array[]): Promise<void> {
    const wanted: Uint8Array[] = [];
    const names: string[] = [];
    for (const key of keys) {
      const name = keyString(key);
      if (!this.clean.has(name)) {
        wanted.push(key);
        names.push(name);
      }
    }
    if (wanted.length === 0) {
      return;
    }
    const records = await this.base.getMany(wanted);
    names.forEach((name, i) => this.clean.set(name, records[i] ?? null));
  }

  async get(key: Uint8Array): Promise<KeyValue | undefined> {
    const name = keyString(key);
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const slot = (this.layers[i] as Map<string, Slot>).get(name);
      if (slot !== undefined) {
        return slot ?? undefined;
      }
    }
    const cached = this.clean.get(name);
    if (cached !== undefined) {
      return cached ?? undefined;
    }
    const record = await this.base.get(key);
    this.clean.set(name, record ?? null);
    return record;
  }

  /** Writes a record in the top layer. */
  put(kv: KeyValue): void {
    this.top().set(keyString(kv.key), kv);
  }

  /** Deletes a key in the top layer. */
  remove(key: Uint8Array): void {
    this.top().set(keyString(key), null);
  }

  /** Opens a layer (a command or txn whose writes may still be dropped). */
  pushLayer(): void {
    this.layers.push(new Map());
  }

  /** Merges the top layer into the one below it. */
  commitLayer(): void {
    invariant(this.layers.length > 1, 'commitLayer without an open layer');
    const top = this.layers.pop() as Map<string, Slot>;
    const below = this.top();
    for (const [key, slot] of top) {
      below.set(key, slot);
    }
  }

  /** Discards the top layer's writes. */
  dropLayer(): void {
    invariant(this.layers.length > 1, 'dropLayer without an open layer');
    this.layers.pop();
  }

  /** The batch's writes (layer 0); only valid once every layer is committed or dropped. */
  writes(): ReadonlyMap<string, Slot> {
    invariant(this.layers.length === 1, () => `${this.layers.length - 1} layers still open`);
    return this.layers[0] as Map<string, Slot>;
  }

  /** The merged view of `range`: base records overridden by every layer, in byte order. */
  async *scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    const bounds = scanBounds(range);
    const dirty = new Map<string, Slot>();
    for (const layer of this.layers) {
      for (const [key, slot] of layer) {
        if (inBounds(key, bounds)) {
          dirty.set(key, slot);
        }
      }
    }
    const dirtyKeys = [...dirty.keys()].sort();
    let next = 0;
    const emit = (key: string): KeyValue | undefined => {
      const slot = dirty.get(key);
      return slot === null || slot === undefined ? undefined : shapeRecord(slot, mode);
    };
    for await (const kv of this.base.scan(range, mode)) {
      const name = keyString(kv.key);
      while (next < dirtyKeys.length && (dirtyKeys[next] as string) < name) {
        const record = emit(dirtyKeys[next++] as string);
        if (record !== undefined) {
          yield record;
        }
      }
      if (next < dirtyKeys.length && dirtyKeys[next] === name) {
        const record = emit(dirtyKeys[next++] as string);
        if (record !== undefined) {
          yield record;
        }
        continue;
      }
      yield kv;
    }
    while (next < dirtyKeys.length) {
      const record = emit(dirtyKeys[next++] as string);
      if (record !== undefined) {
        yield record;
      }
    }
  }

  private top(): Map<string, Slot> {
    return this.layers[this.layers.length - 1] as Map<string, Slot>;
  }
}
