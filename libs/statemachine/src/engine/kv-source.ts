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
   * time, shaped by `mode` (see ScanMode).
   */
  scan(range: ScanRange, mode: ScanMode): AsyncIterable<KeyValue>;
}

/** A committed store: a KvSource that can also read many keys in one round trip, and its past. */
export interface KvBaseStore extends KvSource {
  /** Records of `keys` (undefined where missing), in the same order. */
  getMany(keys: readonly Uint8Array[]): Promise<Array<KeyValue | undefined>>;
  /**
   * The committed keys as they were at `revision` (at least the compacted revision, at most
   * the committed one; the caller checks): each key's last version at or below it.
   */
  at(revision: number): KvSource;
}

/**
 * How much of each record a scan needs:
 * - `values`: whole records;
 * - `metadata`: revisions and version, values empty (keys-only reads, version compares);
 * - `keys`: only the keys are meaningful (counting, deleting); revisions may be 0, so a store
 *   can skip reading the records at all.
 */
export type ScanMode = 'values' | 'metadata' | 'keys';

export const EMPTY_VALUE = new Uint8Array(0);

/** A record reduced to what `mode` needs. */
export function shapeRecord(kv: KeyValue, mode: ScanMode): KeyValue {
  return mode === 'values' ? kv : withoutValue(kv);
}

/** A key-only record (ScanMode `keys`). */
export function keyOnlyRecord(key: Uint8Array): KeyValue {
  return { key, createRevision: 0, modRevision: 0, version: 0, value: EMPTY_VALUE };
}

/** A copy of a record without its value (keys-only responses). */
export function withoutValue(kv: KeyValue): KeyValue {
  return kv.value.byteLength === 0 ? kv : { ...kv, value: EMPTY_VALUE };
}
