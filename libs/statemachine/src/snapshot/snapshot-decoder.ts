/**
 * An incremental, verifying parser of the snapshot format. Bytes go in as they arrive (from a
 * file or a follower's stream, in pieces of any size); whole frames come out, each verified
 * against its CRC32C, chunk indexes checked to be consecutive, and the end frame checked
 * against the chunk and record counts and the whole-file CRC32C. The first failure throws a
 * SnapshotCorruptError naming the source, the byte offset and, for chunks, the chunk index;
 * an input that stops early fails `finish` with SnapshotTruncatedError.
 *
 * Memory is bounded by the largest frame accepted (maxChunkBytes, maxHeaderBytes).
 */
import { crc32c } from '@node-rs/crc32';
import { SnapshotCorruptError, SnapshotTruncatedError } from '../errors';
import type { SnapshotHeader } from './snapshot-format';
import {
  CHUNK_PREFIX_BYTES,
  END_FRAME_BYTES,
  FRAME_CHUNK,
  FRAME_END,
  HEADER_PREFIX_BYTES,
  SNAPSHOT_FORMATS_READ,
  SNAPSHOT_MAGIC,
  decodeHeaderBody,
} from './snapshot-format';

export type SnapshotFrame =
  | { readonly type: 'header'; readonly header: SnapshotHeader; readonly raw: Uint8Array }
  | { readonly type: 'chunk'; readonly index: number; readonly recordCount: number; readonly payload: Uint8Array; readonly raw: Uint8Array }
  | { readonly type: 'end'; readonly chunkCount: number; readonly recordCount: number; readonly raw: Uint8Array };

export interface SnapshotDecoderLimits {
  readonly maxSnapshotChunkBytes: number;
  readonly maxSnapshotHeaderBytes: number;
}

export class SnapshotDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** File offset of the first pending byte. */
  private offset = 0;
  /** CRC32C of every consumed byte. */
  private fileCrc = 0;
  private stage: 'header' | 'frames' | 'done' = 'header';
  private nextChunk = 0;
  private records = 0;
  private decodedHeader: SnapshotHeader | undefined;

  constructor(
    private readonly source: string,
    private readonly limits: SnapshotDecoderLimits,
  ) {}

  /** The header, once its frame has been verified. */
  get header(): SnapshotHeader | undefined {
    return this.decodedHeader;
  }

  get done(): boolean {
    return this.stage === 'done';
  }

  /** Bytes consumed into verified frames so far. */
  get verifiedBytes(): number {
    return this.offset;
  }

  /** Feeds bytes; returns the frames they complete. Throws SnapshotCorruptError. */
  push(bytes: Uint8Array): SnapshotFrame[] {
    if (bytes.byteLength === 0) {
      return [];
    }
    if (this.stage === 'done') {
      throw this.corrupt(this.offset, 'bytes after the end frame');
    }
    this.pending.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    this.pendingBytes += bytes.byteLength;
    const frames: SnapshotFrame[] = [];
    for (;;) {
      const frame = this.stage === 'header' ? this.nextHeader() : this.stage === 'frames' ? this.nextFrame() : undefined;
      if (frame === undefined) {
        break;
      }
      frames.push(frame);
    }
    if (this.done && this.pendingBytes > 0) {
      throw this.corrupt(this.offset, `${this.pendingBytes} bytes after the end frame`);
    }
    return frames;
  }

  /** Declares the input complete. Throws SnapshotTruncatedError before the end frame. */
  finish(): void {
    if (this.stage !== 'done') {
      const where = this.stage === 'header' ? 'in the header' : `in chunk ${this.nextChunk} (or before the end frame)`;
      throw new SnapshotTruncatedError(this.source, this.offset + this.pendingBytes, `ends ${where}`, this.stage === 'frames' ? this.nextChunk : undefined);
    }
  }

  private nextHeader(): SnapshotFrame | undefined {
    const prefix = this.peek(HEADER_PREFIX_BYTES);
    if (prefix === undefined) {
      return undefined;
    }
    if (!prefix.subarray(0, 8).equals(SNAPSHOT_MAGIC)) {
      throw this.corrupt(0, 'not a snapshot file (bad magic)');
    }
    const version = prefix.readUInt16LE(8);
    if (!SNAPSHOT_FORMATS_READ.includes(version)) {
      throw this.corrupt(8, `unsupported format version ${version}`);
    }
    const bodyLength = prefix.readUInt32LE(10);
    if (bodyLength > this.limits.maxSnapshotHeaderBytes) {
      throw this.corrupt(10, `header length ${bodyLength} exceeds ${this.limits.maxSnapshotHeaderBytes}`);
    }
    const raw = this.peek(HEADER_PREFIX_BYTES + bodyLength + 4);
    if (raw === undefined) {
      return undefined;
    }
    this.checkCrc(raw, 'header checksum mismatch', undefined);
    const body = raw.subarray(HEADER_PREFIX_BYTES, HEADER_PREFIX_BYTES + bodyLength);
    const header = decodeHeaderBody(body, version, (message, at) => this.corrupt(HEADER_PREFIX_BYTES + at, `header: ${message}`));
    this.consume(raw.length);
    this.decodedHeader = header;
    this.stage = 'frames';
    return { type: 'header', header, raw: Buffer.from(raw) };
  }

  private nextFrame(): SnapshotFrame | undefined {
    const type = this.peek(1);
    if (type === undefined) {
      return undefined;
    }
    if (type[0] === FRAME_END) {
      return this.nextEnd();
    }
    if (type[0] !== FRAME_CHUNK) {
      throw this.corrupt(this.offset, `unknown frame type 0x${(type[0] as number).toString(16)}`, this.nextChunk);
    }
    const prefix = this.peek(CHUNK_PREFIX_BYTES);
    if (prefix === undefined) {
      return undefined;
    }
    const index = prefix.readUInt32LE(1);
    const recordCount = prefix.readUInt32LE(5);
    const payloadLength = prefix.readUInt32LE(9);
    if (payloadLength > this.limits.maxSnapshotChunkBytes) {
      throw this.corrupt(this.offset + 9, `chunk length ${payloadLength} exceeds ${this.limits.maxSnapshotChunkBytes}`, this.nextChunk);
    }
    const raw = this.peek(CHUNK_PREFIX_BYTES + payloadLength + 4);
    if (raw === undefined) {
      return undefined;
    }
    this.checkCrc(raw, 'chunk checksum mismatch', this.nextChunk);
    if (index !== this.nextChunk) {
      throw this.corrupt(this.offset + 1, `chunk index ${index}, expected ${this.nextChunk}`, this.nextChunk);
    }
    const frameRaw = Buffer.from(raw);
    this.consume(raw.length);
    this.nextChunk++;
    this.records += recordCount;
    const payload = frameRaw.subarray(CHUNK_PREFIX_BYTES, CHUNK_PREFIX_BYTES + payloadLength);
    return { type: 'chunk', index, recordCount, payload, raw: frameRaw };
  }

  private nextEnd(): SnapshotFrame | undefined {
    const raw = this.peek(END_FRAME_BYTES);
    if (raw === undefined) {
      return undefined;
    }
    const chunkCount = raw.readUInt32LE(1);
    const recordCount = Number(raw.readBigUInt64LE(5));
    const expectedCrc = crc32c(raw.subarray(0, END_FRAME_BYTES - 4), this.fileCrc);
    if (raw.readUInt32LE(END_FRAME_BYTES - 4) !== expectedCrc) {
      throw this.corrupt(this.offset, 'whole-file checksum mismatch');
    }
    if (chunkCount !== this.nextChunk || recordCount !== this.records) {
      throw this.corrupt(this.offset, `end frame counts ${chunkCount} chunks and ${recordCount} records, read ${this.nextChunk} and ${this.records}`);
    }
    const frameRaw = Buffer.from(raw);
    this.consume(raw.length);
    this.stage = 'done';
    return { type: 'end', chunkCount, recordCount, raw: frameRaw };
  }

  private checkCrc(raw: Buffer, message: string, chunkIndex: number | undefined): void {
    const body = raw.subarray(0, raw.length - 4);
    if (crc32c(body) !== raw.readUInt32LE(raw.length - 4)) {
      throw this.corrupt(this.offset, message, chunkIndex);
    }
  }

  /** The next `n` pending bytes without consuming them, or undefined if not yet arrived. */
  private peek(n: number): Buffer | undefined {
    if (this.pendingBytes < n) {
      return undefined;
    }
    if ((this.pending[0] as Buffer).length < n) {
      this.pending = [Buffer.concat(this.pending, this.pendingBytes)];
    }
    return (this.pending[0] as Buffer).subarray(0, n);
  }

  private consume(n: number): void {
    const head = this.pending[0] as Buffer;
    this.fileCrc = crc32c(head.subarray(0, n), this.fileCrc);
    if (head.length === n) {
      this.pending.shift();
    } else {
      this.pending[0] = head.subarray(n);
    }
    this.pendingBytes -= n;
    this.offset += n;
  }

  private corrupt(offset: number, reason: string, chunkIndex?: number): SnapshotCorruptError {
    return new SnapshotCorruptError(this.source, offset, reason, chunkIndex);
  }
}
