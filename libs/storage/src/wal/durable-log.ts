/**
 * The log as it is on stable storage: snapshot metadata, hard state, the entry index (term and
 * record location of every entry after the snapshot) and a cache of the newest entries. It
 * answers the core's synchronous reads; entries older than the cache are read back with one
 * positional read per segment run, and every record read is checked again (checksum, index,
 * term) before it is returned.
 *
 * Invariant: table.base === snapshot.index (no unknown entries), and the cache is a suffix of
 * the table.
 */
import { ENTRY_OVERHEAD_BYTES, LogCompactedError, LogUnavailableError, entryBytes, invariant } from '@keyval/raft';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '@keyval/raft';
import { CorruptLogError } from '../errors';
import type { LogShape } from '../log-update-plan';
import { EntryCache } from './entry-cache';
import { EntryTable } from './entry-table';
import { ENTRY_PAYLOAD_HEADER_BYTES, FRAME_HEADER_BYTES, RecordType, checkFrame, decodeEntry } from './record-codec';
import type { WalFile } from './wal-file-system';

/** An open segment file. */
export interface SegmentHandle {
  readonly seq: number;
  readonly firstIndex: number;
  readonly path: string;
  readonly file: WalFile;
  /** Bytes in the file (the next write goes here). */
  bytes: number;
  /** Bytes of the header and the segment-start records. */
  readonly startBytes: number;
}

/** Finds the open segment with a seq. */
export interface SegmentLookup {
  get(seq: number): SegmentHandle;
}

/** The durable log and the core's synchronous reads of it (see the file comment). */
export class DurableLog implements LogShape {
  private snapshot: SnapshotMeta;
  private hard: HardState;
  private readonly cache: EntryCache;

  constructor(
    snapshot: SnapshotMeta,
    hardState: HardState,
    private readonly table: EntryTable,
    private readonly segments: SegmentLookup,
    cacheBytesMax: number,
  ) {
    invariant(table.base === snapshot.index, () => `index table starts at ${table.base + 1}, snapshot is ${snapshot.index}`);
    this.snapshot = snapshot;
    this.hard = hardState;
    this.cache = new EntryCache(cacheBytesMax);
  }

  hardState(): HardState {
    return this.hard;
  }

  snapshotMeta(): SnapshotMeta {
    return this.snapshot;
  }

  firstIndex(): LogIndex {
    return (this.snapshot.index + 1) as LogIndex;
  }

  lastIndex(): LogIndex {
    return this.table.lastIndex as LogIndex;
  }

  term(index: LogIndex): Term {
    if (index === this.snapshot.index) {
      return this.snapshot.term;
    }
    if (index < this.snapshot.index) {
      throw new LogCompactedError(index, this.firstIndex());
    }
    if (index > this.table.lastIndex) {
      throw new LogUnavailableError(index, this.lastIndex());
    }
    return this.table.term(index) as Term;
  }

  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    if (lo < this.firstIndex()) {
      throw new LogCompactedError(lo, this.firstIndex());
    }
    if (hi > this.lastIndex() + 1) {
      throw new LogUnavailableError((hi - 1) as LogIndex, this.lastIndex());
    }
    const out: Entry[] = [];
    const budget = { bytes: 0, maxBytes };
    let index: number = lo;
    while (index < hi) {
      const cached = this.cache.get(index);
      if (cached !== undefined) {
        budget.bytes += entryBytes(cached);
        if (out.length > 0 && budget.bytes > maxBytes) {
          break;
        }
        out.push(cached);
        index++;
        continue;
      }
      const next = this.readRun(index, Math.min(hi, this.cache.first), budget, out);
      if (next === index) {
        break;
      }
      index = next;
    }
    return out;
  }

  /** Record bytes of the entries in (after, through] that the table holds. */
  logBytes(after: number, through: number): number {
    const last = Math.min(through, this.table.lastIndex);
    let bytes = 0;
    for (let index = Math.max(after, this.table.base) + 1; index <= last; index++) {
      bytes += this.table.frameBytes(index);
    }
    return bytes;
  }

  /** Seq of the segment holding the first entry after the snapshot, if the log has one. */
  firstLiveSegment(): number | undefined {
    return this.table.size > 0 ? this.table.segment(this.table.base + 1) : undefined;
  }

  setHardState(hardState: HardState): void {
    this.hard = hardState;
  }

  /** A snapshot marker became durable: drop entries up to it (keepSuffix) or all of them. */
  applySnapshot(meta: SnapshotMeta, keepSuffix: boolean): void {
    invariant(meta.index >= this.snapshot.index, () => `durable snapshot ${meta.index} older than ${this.snapshot.index}`);
    if (keepSuffix) {
      invariant(meta.index <= this.table.lastIndex, () => `snapshot ${meta.index} keeps a suffix past ${this.table.lastIndex}`);
      this.table.dropThrough(meta.index);
      this.cache.dropThrough(meta.index);
    } else {
      this.table.reset(meta.index);
      this.cache.clear();
    }
    this.snapshot = meta;
  }

  /** An entry record became durable at (segment, offset). */
  appendEntry(entry: Entry, segment: number, offset: number, frameBytes: number): void {
    invariant(entry.index > this.snapshot.index, () => `durable entry ${entry.index} at or before snapshot ${this.snapshot.index}`);
    invariant(entry.index <= this.table.lastIndex + 1, () => `durable entry ${entry.index} after ${this.table.lastIndex}`);
    if (entry.index <= this.table.lastIndex) {
      this.table.truncateFrom(entry.index);
      this.cache.truncateFrom(entry.index);
    }
    this.table.push(entry.term, segment, offset, frameBytes);
    this.cache.push(entry);
  }

  /** Fills the cache with the newest entries, up to its budget (after recovery). */
  warmCache(cacheBytesMax: number): void {
    let lo = this.table.lastIndex + 1;
    let bytes = 0;
    while (lo - 1 > this.table.base) {
      const next = bytes + this.table.frameBytes(lo - 1) - FRAME_HEADER_BYTES - ENTRY_PAYLOAD_HEADER_BYTES + ENTRY_OVERHEAD_BYTES;
      if (next > cacheBytesMax) {
        break;
      }
      bytes = next;
      lo--;
    }
    if (lo <= this.table.lastIndex) {
      for (const entry of this.entries(lo as LogIndex, (this.table.lastIndex + 1) as LogIndex, Number.POSITIVE_INFINITY)) {
        this.cache.push(entry);
      }
    }
  }

  /**
   * Reads entries [index, stop) that share index's segment, while the budget allows (always at
   * least one entry in total). Returns the index after the last one read.
   */
  private readRun(index: number, stop: number, budget: { bytes: number; maxBytes: number }, out: Entry[]): number {
    const segment = this.table.segment(index);
    let end = index;
    while (end < stop && this.table.segment(end) === segment) {
      const bytes = this.table.frameBytes(end) - FRAME_HEADER_BYTES - ENTRY_PAYLOAD_HEADER_BYTES + ENTRY_OVERHEAD_BYTES;
      if (out.length + (end - index) > 0 && budget.bytes + bytes > budget.maxBytes) {
        break;
      }
      budget.bytes += bytes;
      end++;
    }
    if (end > index) {
      this.readRecords(segment, index, end, out);
    }
    return end;
  }

  /** One positional read covering entries [lo, hi) of a segment, each checked again. */
  private readRecords(seq: number, lo: number, hi: number, out: Entry[]): void {
    const handle = this.segments.get(seq);
    const start = this.table.offset(lo);
    const length = this.table.offset(hi - 1) + this.table.frameBytes(hi - 1) - start;
    const bytes = Buffer.allocUnsafe(length);
    let read = 0;
    while (read < length) {
      const n = handle.file.readSync(bytes, read, length - read, start + read);
      if (n === 0) {
        throw new CorruptLogError(handle.path, start + read, `segment ends before the indexed entries ${lo}..${hi - 1}`);
      }
      read += n;
    }
    for (let index = lo; index < hi; index++) {
      const at = this.table.offset(index) - start;
      const frame = checkFrame(bytes, at, length);
      if (!frame.ok) {
        throw new CorruptLogError(handle.path, start + at, `entry ${index} on read: ${frame.reason}`);
      }
      const entry = frame.type === RecordType.Entry ? decodeEntry(bytes, at, frame.payloadBytes) : undefined;
      if (entry === undefined || entry.index !== index || entry.term !== this.table.term(index)) {
        throw new CorruptLogError(handle.path, start + at, `record read for entry ${index} holds another record`);
      }
      out.push(entry);
    }
  }
}
