/**
 * Scans one segment's bytes: checks the header and every record's checksum, feeds the records
 * to a LogReplay, and finds a torn tail.
 *
 * Torn-tail rule. Only the last segment can end in a torn write: the store writes one batch at
 * a time at the end of the active segment, and seals a segment (synced) before starting the
 * next. In the last segment, the first record that fails its checks at offset X is a torn tail
 * when no valid record starts anywhere after X: a crash cut the final write short (or left
 * zeros where its pages never reached the disk). If a valid record does follow, the damage is
 * in the middle of the log and the scan stops with CorruptLogError: records after a bad one
 * may have been acknowledged, so dropping them silently could lose acknowledged writes.
 */
import { CorruptLogError } from '../errors';
import type { LogReplay } from './log-replay';
import {
  FRAME_HEADER_BYTES,
  RecordType,
  SnapshotMarkerKind,
  checkFrame,
  decodeHardState,
  decodeSnapshotMarker,
  entryIndexAt,
  entryProblem,
  entryTermAt,
  minimumPayloadBytes,
} from './record-codec';
import { SEGMENT_HEADER_BYTES, decodeSegmentHeader } from './segment-format';
import type { SegmentId } from './segment-format';

/** A snapshot marker found in a segment (segment-start markers are only counted). */
export interface FoundSnapshotMarker {
  readonly file: string;
  readonly offset: number;
  readonly kind: 'installed' | 'compacted';
  readonly index: number;
  readonly term: number;
  readonly keepSuffix: boolean;
}

/** What scanning one segment found. */
export interface SegmentScan {
  readonly id: SegmentId;
  readonly path: string;
  /** Bytes of the file. */
  readonly fileBytes: number;
  /** End of the last valid record: where the next write goes once a torn tail is cut. */
  readonly validBytes: number;
  readonly records: number;
  readonly entries: number;
  readonly hardStates: number;
  readonly markers: FoundSnapshotMarker[];
  /** Set when the segment ends in a torn write starting at `offset`. */
  readonly tornTail?: { readonly offset: number; readonly reason: string };
}

/**
 * Scans `bytes`, the content of segment `path` named `id`. `isLast` allows a torn tail.
 * Throws CorruptLogError naming the file and offset of the first problem otherwise.
 */
export function scanSegment(path: string, id: SegmentId, bytes: Buffer, isLast: boolean, replay: LogReplay): SegmentScan {
  const header = decodeSegmentHeader(bytes);
  if (typeof header === 'string') {
    throw new CorruptLogError(path, 0, header);
  }
  if (header.seq !== id.seq || header.firstIndex !== id.firstIndex) {
    throw new CorruptLogError(path, 0, `header says seq ${header.seq} first index ${header.firstIndex}, unlike the file name`);
  }
  const startProblem = replay.beginSegment(header.firstIndex);
  if (startProblem !== undefined) {
    throw new CorruptLogError(path, 0, startProblem);
  }
  const counts = { records: 0, entries: 0, hardStates: 0 };
  const markers: FoundSnapshotMarker[] = [];
  const end = bytes.byteLength;
  let offset = SEGMENT_HEADER_BYTES;
  while (offset < end) {
    const frame = checkFrame(bytes, offset, end);
    if (!frame.ok) {
      if (isLast && findValidFrame(bytes, offset + 1, end) < 0) {
        return { id, path, fileBytes: end, validBytes: offset, ...counts, markers, tornTail: { offset, reason: frame.reason } };
      }
      throw new CorruptLogError(path, offset, frame.reason);
    }
    const problem = applyRecord(path, id.seq, bytes, offset, frame.type, frame.payloadBytes, replay, markers);
    if (problem !== undefined) {
      throw new CorruptLogError(path, offset, problem);
    }
    counts.records++;
    counts.entries += frame.type === RecordType.Entry ? 1 : 0;
    counts.hardStates += frame.type === RecordType.HardState ? 1 : 0;
    offset += frame.frameBytes;
  }
  return { id, path, fileBytes: end, validBytes: end, ...counts, markers };
}

function applyRecord(
  path: string,
  seq: number,
  bytes: Buffer,
  offset: number,
  type: RecordType,
  payloadBytes: number,
  replay: LogReplay,
  markers: FoundSnapshotMarker[],
): string | undefined {
  switch (type) {
    case RecordType.Entry: {
      const problem = entryProblem(bytes, offset);
      if (problem !== undefined) {
        return problem;
      }
      return replay.entry(entryIndexAt(bytes, offset), entryTermAt(bytes, offset), seq, offset, FRAME_HEADER_BYTES + payloadBytes);
    }
    case RecordType.HardState:
      replay.hardStateRecord(decodeHardState(bytes, offset));
      return undefined;
    case RecordType.Snapshot: {
      const marker = decodeSnapshotMarker(bytes, offset, payloadBytes);
      if (typeof marker === 'string') {
        return marker;
      }
      if (marker.kind !== SnapshotMarkerKind.SegmentStart) {
        const kind = marker.kind === SnapshotMarkerKind.Installed ? 'installed' : 'compacted';
        markers.push({ file: path, offset, kind, index: marker.meta.index, term: marker.meta.term, keepSuffix: marker.keepSuffix });
      }
      return replay.snapshotMarker(marker);
    }
    default:
      return assertNeverType(type);
  }
}

/**
 * The offset of the first valid frame starting in [from, end), or -1. Cheap header checks
 * reject almost every offset before a checksum is computed, so scanning a zero-filled or
 * garbage tail of a 64 MiB segment takes well under a second.
 */
export function findValidFrame(bytes: Buffer, from: number, end: number): number {
  for (let offset = from; offset + FRAME_HEADER_BYTES <= end; offset++) {
    const type = bytes[offset + 8] as number;
    if (type < RecordType.Entry || type > RecordType.Snapshot) {
      continue;
    }
    if (bytes[offset + 9] !== 0 || bytes[offset + 10] !== 0 || bytes[offset + 11] !== 0) {
      continue;
    }
    const payloadBytes = bytes.readUInt32LE(offset + 4);
    if (payloadBytes < (minimumPayloadBytes(type) as number) || offset + FRAME_HEADER_BYTES + payloadBytes > end) {
      continue;
    }
    if (checkFrame(bytes, offset, end).ok) {
      return offset;
    }
  }
  return -1;
}

function assertNeverType(type: never): string {
  return `unknown record type ${String(type)}`;
}
