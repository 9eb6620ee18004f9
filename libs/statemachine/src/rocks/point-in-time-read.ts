/**
 * One read outside apply: a RocksDB iterator over exactly the keys of one request, opened
 * synchronously together with the revision it will report, so the response is one point in
 * time even while apply batches keep writing. Serves the single `get` or `scan` that
 * readRange makes for that request: from the latest records, or for a read at a past
 * revision from the versions of those keys (rocks-history.ts).
 */
import type { ScanRange } from '../engine/key-span';
import { compareBytes, isEmptyRange, isSingleKey, spanToScan } from '../engine/key-span';
import type { KvSource, ScanMode } from '../engine/kv-source';
import { invariant } from '../errors';
import type { KeyValue, RangeRequest } from '../kv-types';
import { PREFIX_KV, decodeKvValue, kvKey } from './key-layout';
import type { RocksDatabase, RocksIterator } from './rocks-database';
import { scanRecords } from './rocks-kv-store';
import { openVersions, recordAt, recordsAt } from './rocks-history';

const KV_END = Buffer.of(PREFIX_KV + 1);

export class PointInTimeRead implements KvSource {
  private readonly range: ScanRange;
  private readonly iterator: RocksIterator | undefined;

  /**
   * @param revision the store revision now (reported in the header)
   * @param at the revision to read (the caller checked it against the compacted revision);
   *   undefined or `revision` reads the latest records
   */
  constructor(
    db: RocksDatabase,
    request: RangeRequest,
    readonly revision: number,
    private readonly at?: number,
  ) {
    this.range = spanToScan(request);
    if (isEmptyRange(this.range)) {
      this.iterator = undefined;
    } else if (this.at !== undefined) {
      this.iterator = openVersions(db, this.range);
    } else {
      // Counting a range needs only the keys: skip reading the records.
      const values = request.countOnly !== true || isSingleKey(request);
      this.iterator = db.iterator({ gte: kvKey(this.range.start), lt: this.range.end === null ? KV_END : kvKey(this.range.end), values });
    }
  }

  async get(key: Uint8Array): Promise<KeyValue | undefined> {
    invariant(this.iterator !== undefined && compareBytes(key, this.range.start) === 0, 'point-in-time get outside its range');
    if (this.at !== undefined) {
      return recordAt(this.iterator, this.at);
    }
    const entry = await this.iterator.next();
    return entry === undefined ? undefined : decodeKvValue(key, entry.value);
  }

  scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    invariant(this.iterator !== undefined && compareBytes(range.start, this.range.start) === 0, 'point-in-time scan outside its range');
    return this.at !== undefined ? recordsAt(this.iterator, this.at, mode) : scanRecords(this.iterator, mode);
  }

  /** Releases the iterator (idempotent). */
  async end(): Promise<void> {
    await this.iterator?.end();
  }
}
