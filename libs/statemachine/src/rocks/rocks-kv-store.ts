/**
 * The committed key-value data of RocksStateMachine, read through the engine's KvBaseStore
 * interface: point reads, batched point reads, and scans over a RocksDB iterator (one point
 * in time each).
 */
import type { ScanRange } from '../engine/key-span';
import type { KvBaseStore } from '../engine/kv-source';
import { withoutValue } from '../engine/kv-source';
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
  scan(range: ScanRange, withValues: boolean): AsyncIterable<KeyValue> {
    const iterator = this.db.iterator({ gte: kvKey(range.start), lt: range.end === null ? KV_END : kvKey(range.end) });
    return records(iterator, withValues);
  }
}

async function* records(iterator: RocksIterator, withValues: boolean): AsyncGenerator<KeyValue> {
  for await (const entry of iterator.entries()) {
    const kv = decodeKvValue(entry.key.subarray(1), entry.value);
    yield withValues ? kv : withoutValue(kv);
  }
}
