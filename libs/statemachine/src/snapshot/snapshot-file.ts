/**
 * Snapshot files: writing one durably from a stream of records, and reading one back as
 * verified frames or records. See snapshot-format.ts for the layout.
 */
import { crc32c } from '@node-rs/crc32';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { SnapshotMeta } from '@keyval/raft';
import type { MembershipState } from '../command-types';
import { ByteWriter } from '../codec/byte-writer';
import { keyString } from '../engine/key-span';
import { SnapshotCorruptError } from '../errors';
import { assertNever } from '../util/assert-never';
import { fsyncDir } from '../util/durable-fs';
import type { SnapshotDecoderLimits, SnapshotFrame } from './snapshot-decoder';
import { SnapshotDecoder } from './snapshot-decoder';
import type { SnapshotHeader, SnapshotRecord } from './snapshot-format';
import { decodeRecords, encodeChunkFrame, encodeEndFrame, encodeHeaderFrame, snapshotFileName, writeRecord } from './snapshot-format';

/** A snapshot file on disk and what it covers; `meta` is what the log store compacts to. */
export interface SnapshotFileInfo {
  readonly path: string;
  readonly fileName: string;
  readonly meta: SnapshotMeta;
  readonly revision: number;
  readonly logTimeMs: number;
  readonly membership: MembershipState;
  readonly sizeBytes: number;
}

let temporaryFiles = 0;

/** Read size when streaming a file. */
export const SNAPSHOT_READ_BYTES = 1024 * 1024;

export function infoFromHeader(file: string, header: Omit<SnapshotHeader, 'format'>, sizeBytes: number): SnapshotFileInfo {
  return {
    path: file,
    fileName: path.basename(file),
    meta: { index: header.lastIndex, term: header.lastTerm, config: header.membership.config },
    revision: header.revision,
    logTimeMs: header.logTimeMs,
    membership: header.membership,
    sizeBytes,
  };
}

/** The info of a snapshot file whose header is known. */
export async function snapshotInfo(file: string, header: Omit<SnapshotHeader, 'format'>): Promise<SnapshotFileInfo> {
  return infoFromHeader(file, header, (await fs.stat(file)).size);
}

/**
 * Writes a snapshot into `dir`: to `<name>.<pid>-<n>.tmp`, fsynced, renamed to its final name
 * (from the header's index and term), directory fsynced. Records must come in snapshot order.
 */
export async function writeSnapshotFile(dir: string, header: Omit<SnapshotHeader, 'format'>, records: AsyncIterable<SnapshotRecord>, chunkBytes: number): Promise<SnapshotFileInfo> {
  const final = path.join(dir, snapshotFileName(header.lastIndex, header.lastTerm));
  // Unique, so two snapshots of the same index written at once cannot share a temporary file.
  const tmp = `${final}.${process.pid}-${temporaryFiles++}.tmp`;
  const handle = await fs.open(tmp, 'w');
  let size = 0;
  let fileCrc = 0;
  const emit = async (frame: Uint8Array): Promise<void> => {
    fileCrc = crc32c(frame, fileCrc);
    size += frame.byteLength;
    await handle.write(frame);
  };
  try {
    await emit(encodeHeaderFrame(header));
    let chunk = new ByteWriter(chunkBytes + 1024);
    let chunkRecords = 0;
    let chunkIndex = 0;
    let total = 0;
    for await (const record of records) {
      writeRecord(chunk, record);
      chunkRecords++;
      total++;
      if (chunk.size >= chunkBytes) {
        await emit(encodeChunkFrame(chunkIndex++, chunkRecords, chunk.finish()));
        chunk = new ByteWriter(chunkBytes + 1024);
        chunkRecords = 0;
      }
    }
    if (chunkRecords > 0) {
      await emit(encodeChunkFrame(chunkIndex++, chunkRecords, chunk.finish()));
    }
    const end = encodeEndFrame(chunkIndex, total, fileCrc);
    size += end.byteLength;
    await handle.write(end);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await fs.rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  await fs.rename(tmp, final);
  await fsyncDir(dir);
  return infoFromHeader(final, header, size);
}

/** Verified frames of a snapshot file, in order. Throws SnapshotCorruptError/SnapshotTruncatedError. */
export async function* readSnapshotFrames(file: string, limits: SnapshotDecoderLimits): AsyncGenerator<SnapshotFrame> {
  const decoder = new SnapshotDecoder(file, limits);
  const handle = await fs.open(file, 'r');
  try {
    for (;;) {
      const piece = Buffer.allocUnsafe(SNAPSHOT_READ_BYTES);
      const { bytesRead } = await handle.read(piece, 0, piece.length, null);
      if (bytesRead === 0) {
        break;
      }
      yield* decoder.push(piece.subarray(0, bytesRead));
    }
    decoder.finish();
  } finally {
    await handle.close();
  }
}

/** Reads and verifies just the header frame of a snapshot file. */
export async function readSnapshotInfo(file: string, limits: SnapshotDecoderLimits): Promise<SnapshotFileInfo> {
  const stat = await fs.stat(file);
  for await (const frame of readSnapshotFrames(file, limits)) {
    if (frame.type === 'header') {
      return infoFromHeader(file, frame.header, stat.size);
    }
  }
  throw new SnapshotCorruptError(file, 0, 'no header frame');
}

/** Reads a whole snapshot file, verifying every checksum; returns its info. */
export async function verifySnapshotFile(file: string, limits: SnapshotDecoderLimits): Promise<SnapshotFileInfo> {
  let header: SnapshotHeader | undefined;
  for await (const frame of readSnapshotFrames(file, limits)) {
    if (frame.type === 'header') {
      header = frame.header;
    }
  }
  const stat = await fs.stat(file);
  return infoFromHeader(file, header as SnapshotHeader, stat.size);
}

/**
 * The header and then batches of records (one per chunk) of a snapshot file, verified: every
 * checksum, record counts, and record order (sessions by client id, then keys, strictly
 * increasing). The last item is yielded only after the end frame verified, so a consumer that
 * commits on completion never commits a corrupt or truncated file.
 */
export async function* readSnapshotRecords(
  file: string,
  limits: SnapshotDecoderLimits,
): AsyncGenerator<{ type: 'header'; header: SnapshotHeader } | { type: 'records'; records: SnapshotRecord[] } | { type: 'end' }> {
  const order = new RecordOrder(file);
  for await (const frame of readSnapshotFrames(file, limits)) {
    switch (frame.type) {
      case 'header':
        order.format = frame.header.format;
        yield { type: 'header', header: frame.header };
        break;
      case 'chunk': {
        const fail = (message: string, offset: number): Error => new SnapshotCorruptError(file, offset, `record: ${message}`, frame.index);
        const records = decodeRecords(frame.payload, frame.recordCount, fail);
        records.forEach((record) => order.check(record, frame.index));
        yield { type: 'records', records };
        break;
      }
      case 'end':
        yield { type: 'end' };
        break;
    }
  }
}

/** Record kinds in the order a file holds them, and the format that may hold each. */
const RECORD_RANK: Readonly<Record<SnapshotRecord['type'], { rank: number; format: number | undefined }>> = {
  session: { rank: 0, format: undefined },
  kv: { rank: 1, format: 1 },
  revision: { rank: 2, format: 2 },
  version: { rank: 3, format: 2 },
  lease: { rank: 4, format: 2 },
};

/** Checks that records come in the file's order: by kind, then strictly increasing in each. */
class RecordOrder {
  private rank = -1;
  private last: { name: string; revision: number } | undefined;
  format = 0;

  constructor(private readonly file: string) {}

  check(record: SnapshotRecord, chunkIndex: number): void {
    const kind = RECORD_RANK[record.type];
    if (kind.format !== undefined && kind.format !== this.format) {
      throw new SnapshotCorruptError(this.file, 0, `a ${record.type} record in a format ${this.format} file`, chunkIndex);
    }
    if (kind.rank < this.rank) {
      throw new SnapshotCorruptError(this.file, 0, `a ${record.type} record after later kinds of records`, chunkIndex);
    }
    if (kind.rank > this.rank) {
      this.rank = kind.rank;
      this.last = undefined;
    }
    const next = orderKey(record);
    if (this.last !== undefined && (next.name < this.last.name || (next.name === this.last.name && next.revision <= this.last.revision))) {
      throw new SnapshotCorruptError(this.file, 0, 'records out of order', chunkIndex);
    }
    this.last = next;
  }
}

function orderKey(record: SnapshotRecord): { name: string; revision: number } {
  switch (record.type) {
    case 'session':
      return { name: record.session.key, revision: 0 };
    case 'kv':
      return { name: keyString(record.kv.key), revision: 0 };
    case 'revision':
      return { name: '', revision: record.record.revision };
    case 'lease':
      return { name: record.lease.id.toString(16).padStart(16, '0'), revision: 0 };
    case 'version':
      return { name: keyString(record.version.key), revision: record.version.revision };
    default:
      return assertNever(record);
  }
}
