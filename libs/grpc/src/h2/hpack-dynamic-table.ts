/**
 * The HPACK dynamic tables (RFC 7541 §2.3.2, §4) behind `./hpack`: the FIFO of fields both ends
 * keep in step, with eviction from the oldest end, and the encoder's variant that also indexes
 * its live entries by name and value. They live apart from the codecs so that the table
 * invariants can be read in one place.
 *
 *     add ─► evict oldest until the field fits ─► insert newest      (decoder and encoder)
 *     EncoderTable: the same, plus (name, value) ─► insertion number for indexed lookups
 *
 * Names and values are latin1 strings, so a string's length is its size in bytes.
 */
import { STATIC_TABLE_LENGTH } from './hpack-static-table';

/** Per-entry overhead counted in table and header list sizes (RFC 7541 §4.1, RFC 9113 §6.5.2). */
export const ENTRY_OVERHEAD_BYTES = 32;

/**
 * The dynamic table (RFC 7541 §2.3.2, §4): a FIFO of fields kept in a ring whose capacity is a
 * power of two. HPACK index i (1 = newest) lives in slot (head - i) & mask.
 * Invariants: 0 ≤ count ≤ capacity; bytes = Σ entry sizes ≤ maxBytes.
 */
export class DynamicTable {
  private names: string[] = new Array<string>(16).fill('');
  private values: string[] = new Array<string>(16).fill('');
  private mask = 15;
  /** The slot the next entry goes into. */
  private head = 0;
  /** Entries in the table. */
  count = 0;
  /** Sum of entry sizes (RFC 7541 §4.1). */
  bytes = 0;

  constructor(public maxBytes: number) {}

  /** Name of the entry at relative index i, 1 ≤ i ≤ count (1 = newest). */
  nameAt(i: number): string {
    return this.names[(this.head - i) & this.mask] as string;
  }

  /** Value of the entry at relative index i, 1 ≤ i ≤ count (1 = newest). */
  valueAt(i: number): string {
    return this.values[(this.head - i) & this.mask] as string;
  }

  /**
   * Inserts a field at the front, evicting from the back until it fits (RFC 7541 §4.4). A field
   * larger than the whole table empties it and is not inserted; returns whether it was.
   */
  add(name: string, value: string): boolean {
    const size = name.length + value.length + ENTRY_OVERHEAD_BYTES;
    if (size > this.maxBytes) {
      this.evictTo(0);
      return false;
    }
    this.evictTo(this.maxBytes - size);
    if (this.count > this.mask) {
      this.grow();
    }
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.head = (this.head + 1) & this.mask;
    this.count++;
    this.bytes += size;
    return true;
  }

  /** Applies a new maximum size, evicting the oldest entries until the table fits (§4.3). */
  setMaxBytes(maxBytes: number): void {
    this.maxBytes = maxBytes;
    this.evictTo(maxBytes);
  }

  /** Called for each entry as it is evicted, oldest first; subclasses keep their indices in step. */
  protected evicted(_name: string, _value: string): void {
    // The decoder's table keeps no index beside the ring, so there is nothing to update.
  }

  private evictTo(limitBytes: number): void {
    while (this.bytes > limitBytes) {
      const slot = (this.head - this.count) & this.mask;
      const name = this.names[slot] as string;
      const value = this.values[slot] as string;
      // Drop the references so that evicted strings can be collected.
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
      this.bytes -= name.length + value.length + ENTRY_OVERHEAD_BYTES;
      this.evicted(name, value);
    }
  }

  private grow(): void {
    const capacity = (this.mask + 1) * 2;
    const names = new Array<string>(capacity).fill('');
    const values = new Array<string>(capacity).fill('');
    // Lay entries out oldest first from slot 0, so that head = count afterwards.
    for (let i = this.count, slot = 0; i >= 1; i--, slot++) {
      names[slot] = this.nameAt(i);
      values[slot] = this.valueAt(i);
    }
    this.names = names;
    this.values = values;
    this.mask = capacity - 1;
    this.head = this.count;
  }
}

/**
 * The encoder's dynamic table, with each live entry's insertion number (0 for the first field
 * ever inserted) by name, then value: nested maps, so that a lookup allocates nothing.
 * Invariant: the maps hold exactly the live entries, each (name, value) mapped to its newest
 * live entry, and no name maps to an empty map.
 */
export class EncoderTable extends DynamicTable {
  private readonly index = new Map<string, Map<string, number>>();
  /** Fields inserted so far; the newest live entry's insertion number is inserted - 1. */
  private inserted = 0;

  /** HPACK index (> 61) of the field, or 0 when the table does not hold it. */
  indexOf(name: string, value: string): number {
    const insertion = this.index.get(name)?.get(value);
    if (insertion === undefined) return 0;
    const relative = this.inserted - insertion;
    if (relative > this.count) {
      throw new Error(`HPACK encoder index out of step: insertion ${insertion} is no longer in the table`);
    }
    return STATIC_TABLE_LENGTH + relative;
  }

  /** Inserts a field (as DynamicTable.add) and indexes it. */
  insert(name: string, value: string): void {
    if (!this.add(name, value)) return;
    let values = this.index.get(name);
    if (values === undefined) {
      values = new Map();
      this.index.set(name, values);
    }
    values.set(value, this.inserted);
    this.inserted++;
  }

  protected override evicted(name: string, value: string): void {
    const values = this.index.get(name);
    // The insertion number of the entry being evicted, which has just left the count.
    const insertion = this.inserted - this.count - 1;
    if (values === undefined || values.get(value) !== insertion) return;
    values.delete(value);
    if (values.size === 0) {
      this.index.delete(name);
    }
  }
}
