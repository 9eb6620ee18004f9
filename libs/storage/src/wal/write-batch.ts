/**
 * Writes accepted but not yet on disk, encoded as they arrive into one buffer: a batch becomes
 * one write system call and (when any of its writes asks for it) one fdatasync.
 */
import { EntryType, invariant } from '@keyval/raft';
import type { Entry, HardState, SnapshotMeta } from '@keyval/raft';
import { EntryTooLargeError } from '../errors';
import { FrameWriter, HARD_STATE_RECORD_BYTES, entryRecordBytes, snapshotRecordBytes } from './record-codec';
import type { SnapshotMarker } from './record-codec';

const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** One accepted write waiting for its batch. */
export interface PendingWrite {
  readonly marker: SnapshotMarker | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** The parts of a write, in the order they are written: marker, entries, hard state. */
export interface WriteParts {
  readonly marker?: SnapshotMarker;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
}

/**
 * Bytes the records of `parts` take. Throws EntryTooLargeError for an entry record above
 * `maxRecordBytes`, and RaftInvariantError for a field the format cannot hold.
 */
export function measureWrite(parts: WriteParts, maxRecordBytes: number): number {
  let bytes = 0;
  if (parts.marker !== undefined) {
    assertSnapshotFields(parts.marker.meta);
    bytes += snapshotRecordBytes(parts.marker.meta);
  }
  for (const entry of parts.entries) {
    assertEntryFields(entry);
    const recordBytes = entryRecordBytes(entry);
    if (recordBytes > maxRecordBytes) {
      throw new EntryTooLargeError(entry.index, recordBytes, maxRecordBytes);
    }
    bytes += recordBytes;
  }
  if (parts.hardState !== undefined) {
    assertHardStateFields(parts.hardState);
    bytes += HARD_STATE_RECORD_BYTES;
  }
  return bytes;
}

/** Accepted writes encoded into one buffer, with the promises to settle when it is done. */
export class WriteBatch {
  private readonly frames: FrameWriter;
  readonly writes: PendingWrite[] = [];
  /** Frame offsets (within the batch) of every entry record, in write order. */
  readonly entryOffsets: number[] = [];
  /** True when some write in the batch must be synced before it resolves. */
  needsSync = false;
  /** True when the batch carries a snapshot marker (segments may become obsolete). */
  hasMarker = false;

  constructor(private readonly capacityBytes: number) {
    this.frames = new FrameWriter(capacityBytes);
  }

  get bytes(): number {
    return this.frames.length;
  }

  get size(): number {
    return this.writes.length;
  }

  /** The encoded records. */
  view(): Buffer {
    return this.frames.view();
  }

  /** Encodes a write (already validated and measured); resolves when its batch is done. */
  add(parts: WriteParts, sync: boolean): Promise<void> {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((onResolve, onReject) => {
      resolve = onResolve;
      reject = onReject;
    });
    if (parts.marker !== undefined) {
      this.frames.writeSnapshot(parts.marker);
      this.hasMarker = true;
    }
    for (const entry of parts.entries) {
      this.entryOffsets.push(this.frames.writeEntry(entry));
    }
    if (parts.hardState !== undefined) {
      this.frames.writeHardState(parts.hardState);
    }
    this.needsSync ||= sync;
    this.writes.push({ marker: parts.marker, entries: parts.entries, hardState: parts.hardState, resolve, reject });
    return promise;
  }

  /** Rejects every write in the batch and empties it. */
  rejectAll(err: Error): void {
    const writes = this.writes.splice(0);
    this.reset();
    for (const write of writes) {
      write.reject(err);
    }
  }

  reset(): void {
    this.frames.reset(this.capacityBytes);
    this.writes.length = 0;
    this.entryOffsets.length = 0;
    this.needsSync = false;
    this.hasMarker = false;
  }
}

function assertEntryFields(entry: Entry): void {
  if (!isU53(entry.index) || entry.index < 1 || !isU53(entry.term) || (entry.type !== EntryType.Normal && entry.type !== EntryType.ConfChange)) {
    invariant(false, `entry ${entry.index} (term ${entry.term}, type ${entry.type}) has fields the log cannot store`);
  }
  invariant(entry.data instanceof Uint8Array, () => `entry ${entry.index} data is not a Uint8Array`);
}

function assertHardStateFields(hardState: HardState): void {
  invariant(isU53(hardState.term) && isU53(hardState.commit), () => `hard state term ${hardState.term} commit ${hardState.commit} out of range`);
  invariant(hardState.vote >= 0n && hardState.vote <= U64_MAX, () => `hard state vote ${hardState.vote} is not a uint64`);
}

function assertSnapshotFields(meta: SnapshotMeta): void {
  invariant(isU53(meta.index) && isU53(meta.term), () => `snapshot index ${meta.index} term ${meta.term} out of range`);
  for (const id of [...meta.config.voters, ...meta.config.learners]) {
    invariant(id >= 0n && id <= U64_MAX, () => `snapshot member id ${id} is not a uint64`);
  }
}

function isU53(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}
