/**
 * Hashes of the replicated state (etcd's Maintenance.Hash and HashKV): a CRC-32C (etcd's
 * choice, Castagnoli) over the logical records a snapshot holds, so the hash depends only on
 * the applied state — never on the storage layout, on how far a physical compaction has come,
 * or on the applied index itself (etcd's Hash ignores its consistent index too). Two members
 * with the same applied state hash equal whatever their implementation (Memory or RocksDB).
 *
 * The records are hashed as they stream from a point-in-time iterator, a few KiB at a time:
 * the work never holds the event loop longer than one iterator batch.
 */
import { crc32c } from '@node-rs/crc32';
import { ByteWriter } from '../codec/byte-writer';
import { CompactedError, FutureRevisionError } from '../errors';
import { retainedVersions } from '../engine/history';
import type { VersionRecord } from '../engine/history';
import { writeMembership } from '../engine/membership';
import type { SnapshotHeader, SnapshotRecord } from './snapshot-format';
import { writeRecord } from './snapshot-format';

/** etcd's HashKV: the hash of the key space at `hashRevision`. */
export interface KvHash {
  /** CRC-32C (uint32). */
  readonly hash: number;
  /** The revision hashed (the current one when asked for 0). */
  readonly hashRevision: number;
  /** The store's revision when the hash's point in time was taken (the response header's). */
  readonly revision: number;
  /** The compacted revision at that point (-1: never compacted), as etcd reports it. */
  readonly compactRevision: number;
}

/** etcd's Hash: the hash of the whole replicated state. */
export interface StoreHash {
  readonly hash: number;
  /** The store's revision at the hash's point in time. */
  readonly revision: number;
}

/** Bytes of encoded records gathered before they are folded into the checksum. */
const FOLD_BYTES = 64 * 1024;

/** A running CRC-32C over snapshot records (their snapshot-file encoding). */
export class RecordHasher {
  private crc = 0;
  private out = new ByteWriter(FOLD_BYTES);

  constructor(label: string) {
    this.crc = crc32c(Buffer.from(label, 'utf8'), this.crc);
  }

  add(record: SnapshotRecord): void {
    writeRecord(this.out, record);
    if (this.out.size >= FOLD_BYTES) {
      this.fold();
    }
  }

  /** Adds the header's replicated fields (not its index and term: they differ between equal states). */
  addHeader(header: Pick<SnapshotHeader, 'revision' | 'compactRevision' | 'logTimeMs' | 'membership'>): void {
    this.out.varint(header.revision).varint(header.compactRevision + 1).varint(header.logTimeMs);
    writeMembership(this.out, header.membership);
  }

  digest(): number {
    this.fold();
    return this.crc >>> 0;
  }

  private fold(): void {
    const bytes = this.out.finish();
    this.crc = crc32c(bytes, this.crc);
    this.out = new ByteWriter(FOLD_BYTES);
  }
}

/**
 * The HashKV hash of versions in key order (each key's ascending by revision): the versions a
 * read at or above the compacted revision and at or below `atRevision` can reach.
 */
export async function hashKeySpace(versions: AsyncIterable<VersionRecord>, compactRevision: number, atRevision: number): Promise<number> {
  const hasher = new RecordHasher('keyval-hashkv\n');
  for await (const version of retainedVersions(versions, compactRevision, atRevision)) {
    hasher.add({ type: 'version', version });
  }
  return hasher.digest();
}

/** The Hash of a snapshot's header and records (in snapshot order). */
export async function hashRecords(header: Pick<SnapshotHeader, 'revision' | 'compactRevision' | 'logTimeMs' | 'membership'>, records: AsyncIterable<SnapshotRecord>): Promise<number> {
  const hasher = new RecordHasher('keyval-hash\n');
  hasher.addHeader(header);
  for await (const record of records) {
    hasher.add(record);
  }
  return hasher.digest();
}

/**
 * The revision a HashKV at `requested` hashes, as etcd checks it: 0 is the current revision;
 * at or below the compacted revision CompactedError (unlike a range read, the compacted
 * revision itself is refused); above the current one FutureRevisionError. A negative revision
 * hashes nothing (etcd answers the hash of an empty key space).
 */
export function checkHashRevision(requested: number, current: number, compacted: number): number {
  if (requested > 0 && requested <= compacted) {
    throw CompactedError.of(requested, compacted);
  }
  if (requested > current) {
    throw FutureRevisionError.of(requested, current);
  }
  return requested === 0 ? current : requested;
}
