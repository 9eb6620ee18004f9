/**
 * The committed key-value data of RocksStateMachine, read through the engine's KvBaseStore
 * interface: point reads, batched point reads, and scans over a RocksDB iterator (one point
 * in time each).
 */
import type { ScanRange } from '../engine/key-span';
import type { KvBaseStore, ScanMode } from '../engine/kv-source';
import { keyOnlyRecord, shapeRecord } from '../engine/kv-source';
import type { KeyValue } from '../kv-types';
import { PREFIX_KV, decodeKvValue, kvKey } from './key-layout';
import type { RocksDatabase, RocksIterator } from './rocks-database';

const KV_END = Buffer.of(PREFIX_KV + 1);

export class RocksKvStore implements KvBaseStore {
  constructor(private readonly db: RocksDatabase) {}

  async get(key: Uint8Array): Promise<KeyValue | undefined> {
    const value = await this.db.get(kvKey(key));
    return value === undefined ? undefined : decodeKvValue(key, value);
  }

  async getMany(keys: readonly Uint8Array[]): Promise<Array<KeyValue | undefined>> {
    const values = await this.db.getMany(keys.map(kvKey));
    return values.map((value, i) => (value === undefined ? undefined : decodeKvValue(keys[i] as Uint8Array, value)));
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
