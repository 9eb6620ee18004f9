/**
 * Range reads with etcd 3.4's response rules, over any KvSource (the committed store for reads
 * outside apply, the overlay inside a txn):
 * - `count` is the number of keys in the range whatever the limit;
 * - `more` is true when the range holds more keys than `limit` returned (never with countOnly);
 * - `keysOnly` drops values, `countOnly` drops the kvs.
 */
import { RangeTooLargeError } from '../errors';
import type { KeyValue, RangeRequest, RangeResponse } from '../kv-types';
import { isEmptyRange, isSingleKey, spanToScan } from './key-span';
import type { KvSource, ScanMode } from './kv-source';
import { shapeRecord } from './kv-source';

/** Bytes a kv is charged against maxRangeResponseBytes. */
export function kvResponseBytes(kv: KeyValue): number {
  return kv.key.byteLength + kv.value.byteLength + 32;
}

/**
 * Reads a range at `revision` (the revision to report in the header). Throws
 * RangeTooLargeError when the kvs to return exceed `maxResponseBytes`.
 */
export async function readRange(source: KvSource, request: RangeRequest, revision: number, maxResponseBytes: number): Promise<RangeResponse> {
  const header = { revision };
  const limit = request.limit ?? 0;
  const countOnly = request.countOnly === true;
  const mode: ScanMode = countOnly ? 'keys' : request.keysOnly === true ? 'metadata' : 'values';
  if (isSingleKey(request)) {
    const kv = await source.get(request.key);
    if (kv === undefined) {
      return { header, kvs: [], more: false, count: 0 };
    }
    const kvs = countOnly ? [] : [shapeRecord(kv, mode)];
    checkSize(kvs, maxResponseBytes);
    return { header, kvs, more: false, count: 1 };
  }
  const range = spanToScan(request);
  if (isEmptyRange(range)) {
    return { header, kvs: [], more: false, count: 0 };
  }
  const kvs: KeyValue[] = [];
  let count = 0;
  let bytes = 0;
  const wantKvs = !countOnly;
  for await (const kv of source.scan(range, mode)) {
    count++;
    if (wantKvs && (limit === 0 || kvs.length < limit)) {
      bytes += kvResponseBytes(kv);
      if (bytes > maxResponseBytes) {
        throw RangeTooLargeError.exceeded(maxResponseBytes);
      }
      kvs.push(kv);
    }
  }
  return { header, kvs, more: wantKvs && limit > 0 && count > limit, count };
}

function checkSize(kvs: readonly KeyValue[], maxResponseBytes: number): void {
  let bytes = 0;
  for (const kv of kvs) {
    bytes += kvResponseBytes(kv);
  }
  if (bytes > maxResponseBytes) {
    throw RangeTooLargeError.exceeded(maxResponseBytes);
  }
}

/** Every record in a span, shaped by `mode`, for deletes and compares. */
export async function collectSpan(source: KvSource, span: { key: Uint8Array; rangeEnd?: Uint8Array }, mode: ScanMode): Promise<KeyValue[]> {
  if (isSingleKey(span)) {
    const kv = await source.get(span.key);
    return kv === undefined ? [] : [shapeRecord(kv, mode)];
  }
  const range = spanToScan(span);
  if (isEmptyRange(range)) {
    return [];
  }
  const out: KeyValue[] = [];
  for await (const kv of source.scan(range, mode)) {
    out.push(kv);
  }
  return out;
}
