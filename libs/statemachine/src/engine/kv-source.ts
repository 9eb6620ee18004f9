/**
 * What the engine reads from: the committed key-value data of an implementation (a sorted map
 * in memory, RocksDB on disk), or an overlay of a batch's writes on top of it.
 */
import type { KeyValue } from '../kv-types';
import type { ScanRange } from './key-span';

export interface KvSource {
  /** The key's current record, or undefined when it does not exist. */
  get(key: Uint8Array): Promise<KeyValue | undefined>;
  /**
   * Records of the keys in `range`, ascending in byte order, from one consistent point in
   * time. With `withValues` false the records' values are empty (keys-only and counting).
   */
  scan(range: ScanRange, withValues: boolean): AsyncIterable<KeyValue>;
}

/** A committed store: a KvSource that can also read many keys in one round trip. */
export interface KvBaseStore extends KvSource {
  /** Records of `keys` (undefined where missing), in the same order. */
  getMany(keys: readonly Uint8Array[]): Promise<Array<KeyValue | undefined>>;
}

export const EMPTY_VALUE = new Uint8Array(0);

/** A copy of a record without its value (keys-only responses). */
export function withoutValue(kv: KeyValue): KeyValue {
  return kv.value.byteLength === 0 ? kv : { ...kv, value: EMPTY_VALUE };
}
