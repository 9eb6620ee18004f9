/**
 * A snapshot as etcd's Maintenance.Snapshot streams it and `etcdctl snapshot save` stores it:
 * the snapshot file, then zeros up to a multiple of 512 bytes (etcd's clients refuse a
 * download whose size is not `512·n + 32`: a bbolt file is whole pages), then the SHA-256 of
 * everything before it.
 *
 *     | KeyVal snapshot file | zeros to a multiple of 512 | sha256(file + zeros) (32 bytes) |
 *
 * A file in this form is still not a bbolt database: `etcdctl snapshot restore|status` cannot
 * read it; `kvctl snapshot restore` can (`etcdStreamSnapshot` finds the snapshot inside).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { SnapshotCorruptError } from '../errors';
import { CHUNK_PREFIX_BYTES, END_FRAME_BYTES, FRAME_CHUNK, FRAME_END, HEADER_PREFIX_BYTES, SNAPSHOT_MAGIC } from './snapshot-format';

/** etcd's alignment of a snapshot download (a disk sector). */
export const ETCD_SNAPSHOT_ALIGN = 512;
export const ETCD_SNAPSHOT_SHA_BYTES = 32;

/** Zero bytes to stream after a snapshot file of `size` bytes. */
export function etcdSnapshotPadding(size: number): number {
  return (ETCD_SNAPSHOT_ALIGN - (size % ETCD_SNAPSHOT_ALIGN)) % ETCD_SNAPSHOT_ALIGN;
}

/** Bytes read at once while hashing. */
const READ_BYTES = 1024 * 1024;

/**
 * When `file` is a snapshot saved from etcd's Snapshot stream (the form above), the length of
 * the KeyVal snapshot inside it, after verifying its SHA-256 and its padding; undefined for a
 * plain snapshot file (which the snapshot reader verifies itself). Throws SnapshotCorruptError
 * for a stream whose checksum or padding is wrong.
 */
export async function etcdStreamSnapshot(file: string): Promise<number | undefined> {
  const handle = await fs.open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    if (size % ETCD_SNAPSHOT_ALIGN !== ETCD_SNAPSHOT_SHA_BYTES) {
      return undefined;
    }
    const inner = await frameWalkLength(handle, size);
    if (inner === undefined || inner === size) {
      return undefined;
    }
    const body = size - ETCD_SNAPSHOT_SHA_BYTES;
    if (inner + etcdSnapshotPadding(inner) !== body) {
      throw new SnapshotCorruptError(file, inner, `the snapshot ends at byte ${inner}, but ${body - inner} bytes follow before the SHA-256 trailer (expected ${etcdSnapshotPadding(inner)} zero bytes)`);
    }
    const sha = createHash('sha256');
    const buffer = Buffer.allocUnsafe(READ_BYTES);
    for (let at = 0; at < body; ) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, body - at), at);
      if (bytesRead === 0) throw new SnapshotCorruptError(file, at, 'the file ended while reading it');
      const piece = buffer.subarray(0, bytesRead);
      if (at + bytesRead > inner && piece.subarray(Math.max(0, inner - at)).some((byte) => byte !== 0)) {
        throw new SnapshotCorruptError(file, inner, 'the padding before the SHA-256 trailer is not zeros');
      }
      sha.update(piece);
      at += bytesRead;
    }
    const trailer = Buffer.alloc(ETCD_SNAPSHOT_SHA_BYTES);
    await handle.read(trailer, 0, trailer.length, body);
    if (!sha.digest().equals(trailer)) {
      throw new SnapshotCorruptError(file, body, 'SHA-256 mismatch: the download is damaged');
    }
    return inner;
  } finally {
    await handle.close();
  }
}

/**
 * The length of the snapshot file at the start of `handle`, found by walking its frame
 * lengths (not verified: the snapshot reader does that); undefined when it is not one.
 */
async function frameWalkLength(handle: fs.FileHandle, size: number): Promise<number | undefined> {
  const read = async (at: number, bytes: number): Promise<Buffer | undefined> => {
    if (at + bytes > size) return undefined;
    const out = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(out, 0, bytes, at);
    return bytesRead === bytes ? out : undefined;
  };
  const head = await read(0, HEADER_PREFIX_BYTES);
  if (head === undefined || !head.subarray(0, SNAPSHOT_MAGIC.length).equals(SNAPSHOT_MAGIC)) {
    return undefined;
  }
  let at = HEADER_PREFIX_BYTES + head.readUInt32LE(SNAPSHOT_MAGIC.length + 2) + 4;
  for (;;) {
    const type = await read(at, 1);
    if (type === undefined) return undefined;
    if (type[0] === FRAME_END) {
      return at + END_FRAME_BYTES <= size ? at + END_FRAME_BYTES : undefined;
    }
    if (type[0] !== FRAME_CHUNK) return undefined;
    const prefix = await read(at, CHUNK_PREFIX_BYTES);
    if (prefix === undefined) return undefined;
    at += CHUNK_PREFIX_BYTES + prefix.readUInt32LE(CHUNK_PREFIX_BYTES - 4) + 4;
  }
}
