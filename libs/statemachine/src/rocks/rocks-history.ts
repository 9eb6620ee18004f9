/**
 * Reading the history kept in RocksDB (versions under 0x05, see key-layout.ts): the keys as
 * they were at a past revision. Every read is one iterator over the versions of exactly the
 * keys asked for, opened synchronously, so it is one point in time; physical compaction never
 * removes a version a read at or above the compacted revision can see.
 */
import type { VersionRecord } from '../engine/history';
import { liveAt } from '../engine/history';
import type { ScanRange } from '../engine/key-span';
import { keySuccessor } from '../engine/key-span';
import type { KvSource, ScanMode } from '../engine/kv-source';
import { shapeRecord } from '../engine/kv-source';
import type { KeyValue } from '../kv-types';
import { PREFIX_VERSION, decodeVersion, versionKeyPrefix } from './key-layout';
import type { RocksDatabase, RocksIterator } from './rocks-database';

const VERSIONS_END = Buffer.of(PREFIX_VERSION + 1);

/** RocksDB bounds of the versions of the keys in `range`. */
export function versionBounds(range: ScanRange): { gte: Buffer; lt: Buffer } {
  return { gte: versionKeyPrefix(range.start), lt: range.end === null ? VERSIONS_END : versionKeyPrefix(range.end) };
}

/** The versions an iterator over version keys returns, in key and revision order. Ends the iterator. */
export async function* versionRecords(iterator: RocksIterator): AsyncGenerator<VersionRecord> {
  for await (const entry of iterator.entries()) {
    yield decodeVersion(entry.key, entry.value);
  }
}

/** Opens (now) an iterator over the versions of the keys in `range`. */
export function openVersions(db: RocksDatabase, range: ScanRange): RocksIterator {
  return db.iterator(versionBounds(range));
}

/** The records live at `revision` from a version iterator, shaped by `mode`. */
export async function* recordsAt(iterator: RocksIterator, revision: number, mode: ScanMode): AsyncGenerator<KeyValue> {
  for await (const kv of liveAt(versionRecords(iterator), revision)) {
    yield shapeRecord(kv, mode);
  }
}

/** The record of `key` at `revision` from an iterator over that key's versions. */
export async function recordAt(iterator: RocksIterator, revision: number): Promise<KeyValue | undefined> {
  for await (const kv of liveAt(versionRecords(iterator), revision)) {
    return kv;
  }
  return undefined;
}

/** The committed keys at a past revision, for apply (a txn's range at a revision). */
export class RocksHistoricalSource implements KvSource {
  constructor(
    private readonly db: RocksDatabase,
    private readonly revision: number,
  ) {}

  get(key: Uint8Array): Promise<KeyValue | undefined> {
    return recordAt(openVersions(this.db, { start: key, end: keySuccessor(key) }), this.revision);
  }

  scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    return recordsAt(openVersions(this.db, range), this.revision, mode);
  }
}
