/**
 * Rebuilds the log from its records, in order. Used by recovery (which then serves reads from
 * the result) and by the offline verifier.
 *
 * Replay may start at a segment other than the first ever written (older ones were deleted
 * after compaction). The entries that existed before that segment are then *unknown*: they
 * lie in (snapshot.index, table.base]. Records can only shrink the unknown range (an entry
 * that replaces them, a snapshot that covers them); when replay finishes the range must be
 * empty, or segments holding live entries are missing.
 *
 * Each method returns a reason when the record contradicts the log (the caller turns it into
 * a CorruptLogError with the file and offset), or undefined when it was applied.
 */
import { EMPTY_HARD_STATE, EMPTY_SNAPSHOT } from '@keyval/raft';
import type { HardState, SnapshotMeta } from '@keyval/raft';
import { EntryTable } from './entry-table';
import type { SnapshotMarker } from './record-codec';

/** The log being rebuilt from records, in order (see the file comment). */
export class LogReplay {
  snapshot: SnapshotMeta = EMPTY_SNAPSHOT;
  hardState: HardState = EMPTY_HARD_STATE;
  /** Rows for the known entries, (table.base, table.lastIndex]. */
  readonly table: EntryTable;
  private segmentsSeen = 0;

  /** `firstIndex` is the header field of the first segment replayed. */
  constructor(firstIndex: number) {
    this.table = new EntryTable(Math.max(0, firstIndex - 1));
  }

  get lastIndex(): number {
    return this.table.lastIndex;
  }

  /** Called for each segment header, in order. */
  beginSegment(firstIndex: number): string | undefined {
    this.segmentsSeen++;
    if (this.segmentsSeen > 1 && firstIndex !== this.table.lastIndex + 1) {
      return `segment starts at index ${firstIndex} but the log before it ends at ${this.table.lastIndex}`;
    }
    return undefined;
  }

  entry(index: number, term: number, segment: number, offset: number, frameBytes: number): string | undefined {
    if (index <= this.snapshot.index) {
      return `entry ${index} is at or before snapshot ${this.snapshot.index}`;
    }
    if (index > this.table.lastIndex + 1) {
      return `entry ${index} leaves a gap after ${this.table.lastIndex}`;
    }
    this.table.truncateFrom(index);
    this.table.push(term, segment, offset, frameBytes);
    return undefined;
  }

  snapshotMarker(marker: SnapshotMarker): string | undefined {
    const meta = marker.meta;
    if (meta.index < this.snapshot.index) {
      return `snapshot marker ${meta.index} is older than snapshot ${this.snapshot.index}`;
    }
    if (marker.keepSuffix) {
      if (meta.index > this.table.lastIndex) {
        return `snapshot marker ${meta.index} keeps a suffix but the log ends at ${this.table.lastIndex}`;
      }
      if (this.table.has(meta.index) && this.table.term(meta.index) !== meta.term) {
        return `snapshot marker ${meta.index} has term ${meta.term} but the entry there has ${this.table.term(meta.index)}`;
      }
      this.table.dropThrough(meta.index);
    } else {
      this.table.reset(meta.index);
    }
    this.snapshot = meta;
    return undefined;
  }

  hardStateRecord(hardState: HardState): void {
    this.hardState = hardState;
  }

  /** Checks that no live entry is unknown (its segment missing). */
  finish(): string | undefined {
    if (this.table.base > this.snapshot.index) {
      return `entries ${this.snapshot.index + 1}..${this.table.base} are missing: a segment holding them is gone`;
    }
    return undefined;
  }
}
