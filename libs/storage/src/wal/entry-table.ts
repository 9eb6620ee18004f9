/**
 * In-memory index of the log: for every entry after the snapshot, its term and where its
 * record lies (segment seq, byte offset, frame length). About 20 bytes per entry, in typed
 * arrays that grow by doubling; dropping from the front (compaction) and the back (follower
 * repair) is O(1) amortized.
 *
 * Rows cover the indexes (base, base + size]. Invariant: 0 <= head, head + size <= capacity.
 */
import { invariant } from '@keyval/raft';

const INITIAL_CAPACITY = 1024;

/** Term and record location of each entry in (base, lastIndex]. */
export class EntryTable {
  private terms: Float64Array;
  private segments: Uint32Array;
  private offsets: Uint32Array;
  private frames: Uint32Array;
  private head = 0;
  private count = 0;
  private baseIndex: number;

  constructor(base: number) {
    this.baseIndex = base;
    this.terms = new Float64Array(INITIAL_CAPACITY);
    this.segments = new Uint32Array(INITIAL_CAPACITY);
    this.offsets = new Uint32Array(INITIAL_CAPACITY);
    this.frames = new Uint32Array(INITIAL_CAPACITY);
  }

  /** The index just before the first row. */
  get base(): number {
    return this.baseIndex;
  }

  get size(): number {
    return this.count;
  }

  get lastIndex(): number {
    return this.baseIndex + this.count;
  }

  has(index: number): boolean {
    return index > this.baseIndex && index <= this.baseIndex + this.count;
  }

  term(index: number): number {
    return this.terms[this.slot(index)] as number;
  }

  segment(index: number): number {
    return this.segments[this.slot(index)] as number;
  }

  offset(index: number): number {
    return this.offsets[this.slot(index)] as number;
  }

  frameBytes(index: number): number {
    return this.frames[this.slot(index)] as number;
  }

  /** Adds the row for index lastIndex + 1. */
  push(term: number, segment: number, offset: number, frameBytes: number): void {
    if (this.head + this.count === this.terms.length) {
      this.makeRoom();
    }
    const at = this.head + this.count;
    this.terms[at] = term;
    this.segments[at] = segment;
    this.offsets[at] = offset;
    this.frames[at] = frameBytes;
    this.count++;
  }

  /**
   * Drops the rows at and after `index`. An index at or before the base empties the table
   * and moves the base back to index - 1 (replay uses this when an entry replaces entries
   * whose segments are already deleted; they are unknown, not absent).
   */
  truncateFrom(index: number): void {
    invariant(index >= 1, () => `truncate from ${index}`);
    if (index > this.lastIndex) {
      return;
    }
    if (index <= this.baseIndex) {
      this.reset(index - 1);
      return;
    }
    this.count = index - this.baseIndex - 1;
  }

  /** Drops the rows at and before `index`; past the last row the table empties at base `index`. */
  dropThrough(index: number): void {
    if (index <= this.baseIndex) {
      return;
    }
    if (index >= this.lastIndex) {
      this.reset(index);
      return;
    }
    const dropped = index - this.baseIndex;
    this.head += dropped;
    this.count -= dropped;
    this.baseIndex = index;
  }

  reset(base: number): void {
    this.baseIndex = base;
    this.head = 0;
    this.count = 0;
  }

  private slot(index: number): number {
    if (!this.has(index)) {
      invariant(false, `index ${index} is outside (${this.baseIndex}, ${this.lastIndex}]`);
    }
    return this.head + (index - this.baseIndex - 1);
  }

  private makeRoom(): void {
    const capacity = this.terms.length;
    if (this.head >= capacity / 2) {
      // Slide the rows to the front instead of growing.
      const end = this.head + this.count;
      this.terms.copyWithin(0, this.head, end);
      this.segments.copyWithin(0, this.head, end);
      this.offsets.copyWithin(0, this.head, end);
      this.frames.copyWithin(0, this.head, end);
      this.head = 0;
      return;
    }
    const grow = <T extends Float64Array | Uint32Array>(old: T, fresh: T): T => {
      fresh.set(old.subarray(this.head, this.head + this.count));
      return fresh;
    };
    this.terms = grow(this.terms, new Float64Array(capacity * 2));
    this.segments = grow(this.segments, new Uint32Array(capacity * 2));
    this.offsets = grow(this.offsets, new Uint32Array(capacity * 2));
    this.frames = grow(this.frames, new Uint32Array(capacity * 2));
    this.head = 0;
  }
}
