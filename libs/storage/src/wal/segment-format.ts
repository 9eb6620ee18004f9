/**
 * Segment files: names and the fixed header at the start of each.
 *
 * A segment is named `<seq>-<firstIndex>.wal`, both as 16 lower-case hex digits, so names
 * sort in log order. `seq` counts segments from 1 without gaps; `firstIndex` is the index the
 * next appended entry had when the segment was created (lastIndex + 1 at that moment).
 *
 * Header (32 bytes):
 *
 *     offset  size  field
 *     0       8     magic "KEYVALWL"
 *     8       2     format version (1)
 *     10      2     flags (0)
 *     12      8     seq (u64)
 *     20      8     firstIndex (u64)
 *     28      4     crc32c of bytes [0, 28)
 */
import { crc32c } from '@node-rs/crc32';
import { readU64, writeU64 } from './record-codec';

/** First 8 bytes of every segment. */
export const SEGMENT_MAGIC = 'KEYVALWL';
/** Bumped on any incompatible change of the format. */
export const SEGMENT_FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 32;
export const SEGMENT_SUFFIX = '.wal';
/** Suffix of a segment being created; such files are incomplete and removed on open. */
export const SEGMENT_TEMP_SUFFIX = '.wal.tmp';

const NAME_PATTERN = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;

/** What a segment's name and header say about it. */
export interface SegmentId {
  /** Position of the segment in the log: 1, 2, 3... */
  readonly seq: number;
  /** lastIndex + 1 when the segment was created. */
  readonly firstIndex: number;
}

/** `<seq>-<firstIndex>.wal`, 16 hex digits each. */
export function segmentFileName(id: SegmentId): string {
  return `${hex16(id.seq)}-${hex16(id.firstIndex)}${SEGMENT_SUFFIX}`;
}

/** Parses a segment file name; undefined for any other file. */
export function parseSegmentFileName(name: string): SegmentId | undefined {
  const match = NAME_PATTERN.exec(name);
  if (match === null) {
    return undefined;
  }
  const seq = Number.parseInt(match[1] as string, 16);
  const firstIndex = Number.parseInt(match[2] as string, 16);
  return Number.isSafeInteger(seq) && Number.isSafeInteger(firstIndex) ? { seq, firstIndex } : undefined;
}

/** The 32-byte header of segment `id`. */
export function encodeSegmentHeader(id: SegmentId): Buffer {
  const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
  header.write(SEGMENT_MAGIC, 0, 'latin1');
  header.writeUInt16LE(SEGMENT_FORMAT_VERSION, 8);
  header.writeUInt16LE(0, 10);
  writeU64(header, 12, id.seq);
  writeU64(header, 20, id.firstIndex);
  header.writeUInt32LE(crc32c(header.subarray(0, 28)) >>> 0, 28);
  return header;
}

/** Decodes the header at the start of `buf`, or returns why it is not a valid header. */
export function decodeSegmentHeader(buf: Buffer): SegmentId | string {
  if (buf.byteLength < SEGMENT_HEADER_BYTES) {
    return `segment header cut short (${buf.byteLength} of ${SEGMENT_HEADER_BYTES} bytes)`;
  }
  if (buf.toString('latin1', 0, 8) !== SEGMENT_MAGIC) {
    return 'not a KeyVal WAL segment (bad magic)';
  }
  if ((crc32c(buf.subarray(0, 28)) >>> 0) !== buf.readUInt32LE(28)) {
    return 'segment header checksum mismatch';
  }
  const version = buf.readUInt16LE(8);
  if (version !== SEGMENT_FORMAT_VERSION || buf.readUInt16LE(10) !== 0) {
    return `unsupported segment format version ${version}`;
  }
  return { seq: readU64(buf, 12), firstIndex: readU64(buf, 20) };
}

function hex16(value: number): string {
  return value.toString(16).padStart(16, '0');
}
