/**
 * Committed key-value records kept in memory for apply, so a put to a recently written key
 * (the common case: the previous version, create revision and version are all a put needs)
 * does not read RocksDB. A read through RocksDB costs a round trip to the libuv thread pool, a
 * memtable search and a copy per key; this costs a map lookup.
 *
 * Exact, not a hint: an entry is the key's committed record, or null for a key known to be
 * absent. Entries come from RocksDB reads done by apply and from every apply batch's writes,
 * recorded only after the write batch succeeded; nothing else writes user keys (a restore
 * opens a new database with a new, empty cache). Bounded by bytes: beyond `maxBytes` the
 * entries least recently written or read from RocksDB go first (hits do not reorder, which
 * keeps a hit to one map lookup; a key still in use is written again soon and moves back).
 *
 * An entry holds the revisions and the value as a latin1 string: two heap objects, no
 * ArrayBuffer, and never a view of the larger buffer the bytes were decoded from (an entry's
 * payload, a network read). Entries live for seconds and are replaced on every write, so they
 * are the leader's largest source of promoted garbage; a Buffer per entry (a malloc, a backing
 * store to track and sweep, views) cost more. A lookup rebuilds the record around the
 * caller's key bytes.
 */
import type { KeyValue } from '../kv-types';

/** Bytes an entry is charged besides its key and value (map slot, entry object, string header). */
const ENTRY_OVERHEAD_BYTES = 120;

interface CachedRecord {
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  /** The value's bytes as latin1 characters. */
  readonly value: string;
  /** 0n: no lease. */
  readonly lease: bigint;
}

export class RecordCache {
  private readonly entries = new Map<string, CachedRecord | null>();
  private bytes = 0;
  /** Lookups answered and not answered (metrics and tests). */
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  /**
   * The committed record of `key` (whose keyString is `name`), null when it is known to be
   * absent, undefined when not cached.
   */
  get(name: string, key: Uint8Array): KeyValue | null | undefined {
    const slot = this.entries.get(name);
    if (slot === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (slot === null) {
      return null;
    }
    const record = { key, createRevision: slot.createRevision, modRevision: slot.modRevision, version: slot.version, value: Buffer.from(slot.value, 'latin1') };
    return slot.lease === 0n ? record : { ...record, lease: slot.lease };
  }

  /** Records the key's committed state (null: absent), as the most recent entry. */
  set(name: string, slot: KeyValue | null): void {
    const old = this.entries.get(name);
    if (old !== undefined) {
      this.bytes -= charge(name, old);
      this.entries.delete(name);
    }
    const entry: CachedRecord | null =
      slot === null
        ? null
        : {
            createRevision: slot.createRevision,
            modRevision: slot.modRevision,
            version: slot.version,
            value: Buffer.from(slot.value.buffer, slot.value.byteOffset, slot.value.byteLength).toString('latin1'),
            lease: slot.lease ?? 0n,
          };
    const cost = charge(name, entry);
    if (cost > this.maxBytes) {
      return;
    }
    this.entries.set(name, entry);
    this.bytes += cost;
    if (this.bytes > this.maxBytes) {
      this.evict();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get sizeBytes(): number {
    return this.bytes;
  }

  private evict(): void {
    for (const [name, slot] of this.entries) {
      if (this.bytes <= this.maxBytes) {
        return;
      }
      this.entries.delete(name);
      this.bytes -= charge(name, slot);
    }
  }
}

function charge(name: string, slot: CachedRecord | null): number {
  return ENTRY_OVERHEAD_BYTES + name.length + (slot === null ? 0 : slot.value.length);
}
