/**
 * The committed key-value data of RocksStateMachine as apply reads it, through the engine's
 * KvBaseStore interface: point reads and batched point reads (answered from the record cache
 * when it can, see RecordCache), and scans over a RocksDB iterator (one point in time each).
 * Client reads do not come here: they read a RocksDB point in time (PointInTimeRead).
 */
import type { ScanRange } from '../engine/key-span';
import { keyString } from '../engine/key-span';
import type { KvBaseStore, KvSource, ScanMode } from '../engine/kv-source';
import { keyOnlyRecord, shapeRecord } from '../engine/kv-source';
import type { KeyValue } from '../kv-types';
import { PREFIX_KV, decodeKvValue, kvKey } from './key-layout';
import type { RocksDatabase, RocksIterator } from './rocks-database';
import { RecordCache } from './record-cache';
import { RocksHistoricalSource } from './rocks-history';

const KV_END = Buffer.of(PREFIX_KV + 1);

export class RocksKvStore implements KvBaseStore {
  private readonly cache: RecordCache;

  constructor(
    private readonly db: RocksDatabase,
    cacheBytes: number,
  ) {
    this.cache = new RecordCache(cacheBytes);
  }

  async get(key: Uint8Array): Promise<KeyValue | undefined> {
    const name = keyString(key);
    const cached = this.cache.get(name, key);
    if (cached !== undefined) {
      return cached ?? undefined;
    }
    const value = await this.db.get(kvKey(key));
    const record = value === undefined ? undefined : decodeKvValue(key, value);
    this.cache.set(name, record ?? null);
    return record;
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<KeyValue | undefined>> {
    const records: Array<KeyValue | undefined> = new Array<KeyValue | undefined>(keys.length);
    const missing: number[] = [];
    const names: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const name = keyString(keys[i] as Uint8Array);
      const cached = this.cache.get(name, keys[i] as Uint8Array);
      if (cached === undefined) {
        missing.push(i);
        names.push(name);
      } else {
        records[i] = cached ?? undefined;
      }
    }
    if (missing.length > 0) {
      const values = await this.db.getMany(missing.map((i) => kvKey(keys[i] as Uint8Array)));
      for (let j = 0; j < missing.length; j++) {
        const i = missing[j] as number;
        const value = values[j];
        const record = value === undefined ? undefined : decodeKvValue(keys[i] as Uint8Array, value);
        records[i] = record;
        this.cache.set(names[j] as string, record ?? null);
      }
    }
    return records;
  }

  /** Records an apply batch's writes (see OverlayView.writes) once they are in RocksDB. */
  committed(writes: ReadonlyMap<string, KeyValue | null>): void {
    for (const [name, slot] of writes) {
      this.cache.set(name, slot);
    }
  }

  at(revision: number): KvSource {
    return new RocksHistoricalSource(this.db, revision);
  }

  /** Opens the iterator now (fixing the point in time) and yields records lazily. */
  scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue> {
    const iterator = this.db.iterator({ gte: kvKey(range.start), lt: range.end === null ? KV_END : kvKey(range.end), values: mode !== 'keys' });
    return scanRecords(iterator, mode);
  }
}

/** Records from an iterator over key-value records (opened without values in `keys` mode). */
export async function* scanRecords(iterator: RocksIterator, mode: ScanMode): AsyncGenerator<KeyValue> {
  for await (const entry of iterator.entries()) {
    const key = entry.key.subarray(1);
    yield mode === 'keys' ? keyOnlyRecord(key) : shapeRecord(decodeKvValue(key, entry.value), mode);
  }
}
