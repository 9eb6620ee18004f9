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
 * A layer maps a key (see keyString) to its new record, or to null for a deletion, and lists
 * the events (history) of its writes in order. A key written twice in one revision (etcd's API
 * refuses that; the log may still hold it) makes one event with the final state.
 */
import { invariant } from '../errors';
import type { KeyValue } from '../kv-types';
import type { KeyEvent } from './history';
import { deleteEvent } from './history';
import { HistoryView } from './history-view';
import type { ScanRange } from './key-span';
import { inBounds, keyString, scanBounds } from './key-span';
import type { KvBaseStore, KvSource, ScanMode } from './kv-source';
import { shapeRecord } from './kv-source';

/** A record or a deletion marker. */
export type Slot = KeyValue | null;

interface Layer {
  readonly slots: Map<string, Slot>;
  /** Events in write order; null where a later write of the same revision replaced one. */
  readonly events: Array<KeyEvent | null>;
  /** Index in `events` of each key's last event. */
  readonly lastEvent: Map<string, number>;
}

function newLayer(): Layer {
  return { slots: new Map(), events: [], lastEvent: new Map() };
}

export class OverlayView implements KvSource {
  /** layers[0] holds the batch's committed commands; higher layers are open txns. */
  private readonly layers: Layer[] = [newLayer()];
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
      const slot = (this.layers[i] as Layer).slots.get(name);
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

  /** Writes a record in the top layer; `prev` is the key's record before the write. */
  put(kv: KeyValue, prev: KeyValue | undefined): void {
    const name = keyString(kv.key);
    this.top().slots.set(name, kv);
    this.record(name, { type: 'put', kv, prev });
  }

  /** Deletes a key (whose record was `prev`) in the top layer, at `revision`. */
  remove(prev: KeyValue, revision: number): void {
    const name = keyString(prev.key);
    this.top().slots.set(name, null);
    this.record(name, deleteEvent(prev.key, revision, prev));
  }

  private record(name: string, event: KeyEvent): void {
    invariant(this.layers.length > 1, 'a write outside a command layer');
    const top = this.top();
    const at = top.lastEvent.get(name);
    const earlier = at === undefined ? null : (top.events[at] as KeyEvent | null);
    if (at !== undefined && earlier !== null && earlier.kv.modRevision === event.kv.modRevision) {
      // The same key again in the same revision: one event, from the state before the revision.
      top.events[at] = null;
      if (event.type === 'delete' && earlier.prev === undefined) {
        top.lastEvent.delete(name);
        return;
      }
      event = { ...event, prev: earlier.prev };
    }
    top.lastEvent.set(name, top.events.length);
    top.events.push(event);
  }

  /** Opens a layer (a command or txn whose writes may still be dropped). */
  pushLayer(): void {
    this.layers.push(newLayer());
  }

  /** Merges the top layer into the one below it. */
  commitLayer(): void {
    invariant(this.layers.length > 1, 'commitLayer without an open layer');
    const top = this.layers.pop() as Layer;
    const below = this.top();
    for (const [key, slot] of top.slots) {
      below.slots.set(key, slot);
    }
    for (const event of top.events) {
      if (event !== null) {
        below.lastEvent.set(keyString(event.kv.key), below.events.length);
        below.events.push(event);
      }
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
    return (this.layers[0] as Layer).slots;
  }

  /** The batch's events (layer 0) in apply order; only valid once every layer is closed. */
  events(): readonly KeyEvent[] {
    invariant(this.layers.length === 1, () => `${this.layers.length - 1} layers still open`);
    return this.committedEvents();
  }

  /**
   * The keys as they were at `revision`, which must be at most the revision before the open
   * command (a txn reads the past, never its own writes): the committed history plus the
   * batch's earlier commands.
   */
  at(revision: number): KvSource {
    return new HistoryView(this.base.at(revision), this.committedEvents(), revision);
  }

  private committedEvents(): KeyEvent[] {
    return (this.layers[0] as Layer).events as KeyEvent[];
  }

  /** The merged view of `range`: base records overridden by every layer, in byte order. */
  async *scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    const bounds = scanBounds(range);
    const dirty = new Map<string, Slot>();
    for (const layer of this.layers) {
      for (const [key, slot] of layer.slots) {
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

  private top(): Layer {
    return this.layers[this.layers.length - 1] as Layer;
  }
}
