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
 * Records are copied in (key and value in one allocation) so an entry never pins the larger
 * buffer its bytes were decoded from (an entry's payload, a network read).
 */
import type { KeyValue } from '../kv-types';

/** Bytes an entry is charged besides its key and value (map slot, record object, views). */
const ENTRY_OVERHEAD_BYTES = 160;

export class RecordCache {
  private readonly entries = new Map<string, KeyValue | null>();
  private bytes = 0;
  /** Lookups answered and not answered (metrics and tests). */
  hits = 0;
  misses = 0;

  constructor(private readonly maxBytes: number) {}

  /** The key's committed record, null when it is known to be absent, undefined when not cached. */
  get(name: string): KeyValue | null | undefined {
    const slot = this.entries.get(name);
    if (slot === undefined) {
      this.misses++;
    } else {
      this.hits++;
    }
    return slot;
  }

  /** Records the key's committed state (null: absent), as the most recent entry. */
  set(name: string, slot: KeyValue | null): void {
    const old = this.entries.get(name);
    if (old !== undefined) {
      this.bytes -= charge(name, old);
      this.entries.delete(name);
    }
    const entry = slot === null ? null : compactCopy(slot);
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

function charge(name: string, slot: KeyValue | null): number {
  return ENTRY_OVERHEAD_BYTES + name.length + (slot === null ? 0 : slot.value.byteLength);
}

function compactCopy(kv: KeyValue): KeyValue {
  const keyBytes = kv.key.byteLength;
  const bytes = Buffer.allocUnsafeSlow(keyBytes + kv.value.byteLength);
  bytes.set(kv.key, 0);
  bytes.set(kv.value, keyBytes);
  return { key: bytes.subarray(0, keyBytes), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, value: bytes.subarray(keyBytes) };
}
