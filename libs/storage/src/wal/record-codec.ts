/**
 * WAL record framing. Every record is one frame:
 *
 *     offset  size  field
 *     0       4     crc32c (Castagnoli) of bytes [4, 12 + length): header fields and payload
 *     4       4     length of the payload in bytes (u32, little endian)
 *     8       1     record type (RecordType)
 *     9       3     reserved, zero
 *     12      len   payload
 *
 * Payloads (all integers little endian; u64 values are below 2^53):
 * - Entry:     index u64 | term u64 | entry type u8 | data
 * - HardState: term u64 | vote u64 | commit u64
 * - Snapshot:  kind u8 | keepSuffix u8 | reserved u16 | index u64 | term u64 |
 *              voter count u32 | learner count u32 | voter ids u64... | learner ids u64...
 *
 * Writers encode a whole batch of records into one buffer (FrameWriter) so a batch costs one
 * write system call and no per-record Buffer allocation.
 */
import { crc32c } from '@node-rs/crc32';
import { EntryType, invariant } from '@keyval/raft';
import type { Entry, HardState, LogIndex, MembershipConfig, NodeId, SnapshotMeta, Term } from '@keyval/raft';

/** crc32c u32, length u32, type u8, 3 reserved bytes. */
export const FRAME_HEADER_BYTES = 12;
export const ENTRY_PAYLOAD_HEADER_BYTES = 17;
export const HARD_STATE_PAYLOAD_BYTES = 24;
export const SNAPSHOT_PAYLOAD_FIXED_BYTES = 28;
/** The largest payload the format allows; a longer length field is damage, not data. */
export const RECORD_PAYLOAD_BYTES_LIMIT = 64 * 1024 * 1024;
/** Members in one snapshot marker's configuration (a sanity bound for decoding). */
const CONFIG_MEMBERS_MAX = 1 << 16;
const TWO_POW_32 = 2 ** 32;

/** The kinds of records (frame byte 8). */
export enum RecordType {
  Entry = 1,
  HardState = 2,
  Snapshot = 3,
}

/** Why a snapshot marker was written. Replay depends only on its keepSuffix flag. */
export enum SnapshotMarkerKind {
  /** applySnapshot: a snapshot installed from the leader. */
  Installed = 1,
  /** compact: a local snapshot; entries up to it were discarded. */
  Compacted = 2,
  /** Repeats the current snapshot at the start of every segment (no effect on the log). */
  SegmentStart = 3,
}

/** A snapshot marker record's content. */
export interface SnapshotMarker {
  readonly kind: SnapshotMarkerKind;
  /** True: drop entries up to meta.index and keep the rest. False: drop the whole log. */
  readonly keepSuffix: boolean;
  readonly meta: SnapshotMeta;
}

/** Bytes of the frame that holds `entry`. */
export function entryRecordBytes(entry: Entry): number {
  return FRAME_HEADER_BYTES + ENTRY_PAYLOAD_HEADER_BYTES + entry.data.byteLength;
}

/** Bytes of a hard-state frame. */
export const HARD_STATE_RECORD_BYTES = FRAME_HEADER_BYTES + HARD_STATE_PAYLOAD_BYTES;

/** Bytes of the frame of a snapshot marker for `meta`. */
export function snapshotRecordBytes(meta: SnapshotMeta): number {
  return FRAME_HEADER_BYTES + SNAPSHOT_PAYLOAD_FIXED_BYTES + 8 * (meta.config.voters.length + meta.config.learners.length);
}

/** The smallest valid payload of each record type (a zeroed region never passes). */
export function minimumPayloadBytes(type: number): number | undefined {
  switch (type) {
    case RecordType.Entry:
      return ENTRY_PAYLOAD_HEADER_BYTES;
    case RecordType.HardState:
      return HARD_STATE_PAYLOAD_BYTES;
    case RecordType.Snapshot:
      return SNAPSHOT_PAYLOAD_FIXED_BYTES;
    default:
      return undefined;
  }
}

/** Appends frames to one growable buffer. */
export class FrameWriter {
  private bytes: Buffer;
  /** Bytes written so far: frames occupy [0, length). */
  length = 0;

  constructor(initialBytes: number) {
    invariant(initialBytes > 0, 'frame writer needs a positive initial size');
    this.bytes = Buffer.allocUnsafe(initialBytes);
  }

  /** The frames written so far (a view, valid until the next write or reset). */
  view(): Buffer {
    return this.bytes.subarray(0, this.length);
  }

  /** Forgets the frames; shrinks back to `capacityBytes` if the buffer grew past it. */
  reset(capacityBytes: number): void {
    this.length = 0;
    if (this.bytes.byteLength > capacityBytes * 4) {
      this.bytes = Buffer.allocUnsafe(capacityBytes);
    }
  }

  /** Writes an entry record; returns the frame's offset in the buffer. */
  writeEntry(entry: Entry): number {
    const dataBytes = entry.data.byteLength;
    const payloadBytes = ENTRY_PAYLOAD_HEADER_BYTES + dataBytes;
    const offset = this.begin(RecordType.Entry, payloadBytes);
    const b = this.bytes;
    const p = offset + FRAME_HEADER_BYTES;
    writeU64(b, p, entry.index);
    writeU64(b, p + 8, entry.term);
    b[p + 16] = entry.type;
    b.set(entry.data, p + ENTRY_PAYLOAD_HEADER_BYTES);
    return this.seal(offset, payloadBytes);
  }

  writeHardState(hardState: HardState): number {
    const offset = this.begin(RecordType.HardState, HARD_STATE_PAYLOAD_BYTES);
    const p = offset + FRAME_HEADER_BYTES;
    writeU64(this.bytes, p, hardState.term);
    this.bytes.writeBigUInt64LE(hardState.vote, p + 8);
    writeU64(this.bytes, p + 16, hardState.commit);
    return this.seal(offset, HARD_STATE_PAYLOAD_BYTES);
  }

  writeSnapshot(marker: SnapshotMarker): number {
    const { voters, learners } = marker.meta.config;
    const payloadBytes = SNAPSHOT_PAYLOAD_FIXED_BYTES + 8 * (voters.length + learners.length);
    const offset = this.begin(RecordType.Snapshot, payloadBytes);
    const b = this.bytes;
    const p = offset + FRAME_HEADER_BYTES;
    b[p] = marker.kind;
    b[p + 1] = marker.keepSuffix ? 1 : 0;
    b.writeUInt16LE(0, p + 2);
    writeU64(b, p + 4, marker.meta.index);
    writeU64(b, p + 12, marker.meta.term);
    b.writeUInt32LE(voters.length, p + 20);
    b.writeUInt32LE(learners.length, p + 24);
    let q = p + SNAPSHOT_PAYLOAD_FIXED_BYTES;
    for (const id of [...voters, ...learners]) {
      b.writeBigUInt64LE(id, q);
      q += 8;
    }
    return this.seal(offset, payloadBytes);
  }

  private begin(type: RecordType, payloadBytes: number): number {
    invariant(payloadBytes <= RECORD_PAYLOAD_BYTES_LIMIT, () => `record payload of ${payloadBytes} bytes exceeds the format limit`);
    const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
    this.reserve(frameBytes);
    const offset = this.length;
    const b = this.bytes;
    b.writeUInt32LE(payloadBytes, offset + 4);
    b[offset + 8] = type;
    b[offset + 9] = 0;
    b[offset + 10] = 0;
    b[offset + 11] = 0;
    return offset;
  }

  private seal(offset: number, payloadBytes: number): number {
    const end = offset + FRAME_HEADER_BYTES + payloadBytes;
    this.bytes.writeUInt32LE(crc32c(this.bytes.subarray(offset + 4, end)) >>> 0, offset);
    this.length = end;
    return offset;
  }

  private reserve(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.bytes.byteLength) {
      return;
    }
    const grown = Buffer.allocUnsafe(Math.max(needed, this.bytes.byteLength * 2));
    this.bytes.copy(grown, 0, 0, this.length);
    this.bytes = grown;
  }
}

/** The outcome of checking the frame at an offset. */
export type FrameCheck =
  | { readonly ok: true; readonly type: RecordType; readonly payloadBytes: number; readonly frameBytes: number }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks the frame starting at `offset` in `buf`, which holds valid bytes up to `end`:
 * header plausibility, that it fits before `end`, and its checksum.
 */
export function checkFrame(buf: Buffer, offset: number, end: number): FrameCheck {
  if (end - offset < FRAME_HEADER_BYTES) {
    return { ok: false, reason: `frame header cut short (${end - offset} of ${FRAME_HEADER_BYTES} bytes)` };
  }
  const payloadBytes = buf.readUInt32LE(offset + 4);
  const type = buf[offset + 8] as number;
  const minimum = minimumPayloadBytes(type);
  if (minimum === undefined || buf[offset + 9] !== 0 || buf[offset + 10] !== 0 || buf[offset + 11] !== 0) {
    return { ok: false, reason: `invalid frame header (type ${type})` };
  }
  if (payloadBytes < minimum || payloadBytes > RECORD_PAYLOAD_BYTES_LIMIT) {
    return { ok: false, reason: `invalid record length ${payloadBytes} for type ${type}` };
  }
  const frameBytes = FRAME_HEADER_BYTES + payloadBytes;
  if (offset + frameBytes > end) {
    return { ok: false, reason: `record of ${frameBytes} bytes cut short at ${end - offset} bytes` };
  }
  const stored = buf.readUInt32LE(offset);
  const actual = crc32c(buf.subarray(offset + 4, offset + frameBytes)) >>> 0;
  if (stored !== actual) {
    return { ok: false, reason: `checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})` };
  }
  return { ok: true, type: type as RecordType, payloadBytes, frameBytes };
}

/** The index of the (checked) entry frame at `frameOffset`. */
export function entryIndexAt(buf: Buffer, frameOffset: number): number {
  return readU64(buf, frameOffset + FRAME_HEADER_BYTES);
}

/** The term of the (checked) entry frame at `frameOffset`. */
export function entryTermAt(buf: Buffer, frameOffset: number): number {
  return readU64(buf, frameOffset + FRAME_HEADER_BYTES + 8);
}

/** Checks an entry payload's fields; returns a reason when they are malformed. */
export function entryProblem(buf: Buffer, frameOffset: number): string | undefined {
  const index = entryIndexAt(buf, frameOffset);
  const term = entryTermAt(buf, frameOffset);
  const type = buf[frameOffset + FRAME_HEADER_BYTES + 16] as number;
  if (!Number.isSafeInteger(index) || index < 1 || !Number.isSafeInteger(term)) {
    return `entry with invalid index ${index} or term ${term}`;
  }
  return type === EntryType.Normal || type === EntryType.ConfChange ? undefined : `entry ${index} has unknown type ${type}`;
}

/**
 * Decodes the entry frame at `frameOffset` (already checked). `data` is a view into `buf`:
 * callers that keep entries longer than `buf` must own `buf` (the readers allocate one per read).
 */
export function decodeEntry(buf: Buffer, frameOffset: number, payloadBytes: number): Entry {
  const p = frameOffset + FRAME_HEADER_BYTES;
  const dataStart = p + ENTRY_PAYLOAD_HEADER_BYTES;
  return {
    index: readU64(buf, p) as LogIndex,
    term: readU64(buf, p + 8) as Term,
    type: buf[p + 16] as EntryType,
    data: new Uint8Array(buf.buffer, buf.byteOffset + dataStart, payloadBytes - ENTRY_PAYLOAD_HEADER_BYTES),
  };
}

/** Decodes the (checked) hard-state frame at `frameOffset`. */
export function decodeHardState(buf: Buffer, frameOffset: number): HardState {
  const p = frameOffset + FRAME_HEADER_BYTES;
  return {
    term: readU64(buf, p) as Term,
    vote: buf.readBigUInt64LE(p + 8) as NodeId,
    commit: readU64(buf, p + 16) as LogIndex,
  };
}

/** Decodes a snapshot marker, or returns why its payload is malformed. */
export function decodeSnapshotMarker(buf: Buffer, frameOffset: number, payloadBytes: number): SnapshotMarker | string {
  const p = frameOffset + FRAME_HEADER_BYTES;
  const kind = buf[p] as number;
  const keep = buf[p + 1] as number;
  if (kind < SnapshotMarkerKind.Installed || kind > SnapshotMarkerKind.SegmentStart || keep > 1) {
    return `snapshot marker with unknown kind ${kind} or flag ${keep}`;
  }
  const voterCount = buf.readUInt32LE(p + 20);
  const learnerCount = buf.readUInt32LE(p + 24);
  if (voterCount + learnerCount > CONFIG_MEMBERS_MAX || payloadBytes !== SNAPSHOT_PAYLOAD_FIXED_BYTES + 8 * (voterCount + learnerCount)) {
    return `snapshot marker length ${payloadBytes} does not match ${voterCount} voters and ${learnerCount} learners`;
  }
  const ids: NodeId[] = [];
  for (let k = 0, q = p + SNAPSHOT_PAYLOAD_FIXED_BYTES; k < voterCount + learnerCount; k++, q += 8) {
    ids.push(buf.readBigUInt64LE(q) as NodeId);
  }
  const config: MembershipConfig = { voters: ids.slice(0, voterCount), learners: ids.slice(voterCount) };
  const meta: SnapshotMeta = { index: readU64(buf, p + 4) as LogIndex, term: readU64(buf, p + 12) as Term, config };
  return { kind: kind as SnapshotMarkerKind, keepSuffix: keep === 1, meta };
}

/** Writes a non-negative safe integer as a little-endian u64 (throws RaftInvariantError otherwise). */
export function writeU64(buf: Buffer, offset: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    invariant(false, `${value} is not a u64 below 2^53`);
  }
  buf.writeUInt32LE(value >>> 0, offset);
  buf.writeUInt32LE(Math.floor(value / TWO_POW_32), offset + 4);
}

/** Reads a u64; values at or above 2^53 come back as an unsafe integer the caller rejects. */
export function readU64(buf: Buffer, offset: number): number {
  return buf.readUInt32LE(offset) + buf.readUInt32LE(offset + 4) * TWO_POW_32;
}

function hex32(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/**
 * The records every segment starts with: the current snapshot (a SegmentStart marker, no
 * effect on the log) and the current hard state, so replay can begin at any segment once the
 * older ones are deleted.
 */
export function encodeSegmentStart(snapshot: SnapshotMeta, hardState: HardState): Buffer {
  const writer = new FrameWriter(snapshotRecordBytes(snapshot) + HARD_STATE_RECORD_BYTES);
  writer.writeSnapshot({ kind: SnapshotMarkerKind.SegmentStart, keepSuffix: true, meta: snapshot });
  writer.writeHardState(hardState);
  return Buffer.from(writer.view());
}
