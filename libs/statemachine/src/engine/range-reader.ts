/**
 * Range reads with etcd 3.4's response rules, over any KvSource (the committed store or a
 * past revision of it for reads outside apply, the overlay or its history inside a txn):
 * - `count` is the number of keys in the range, whatever the limit and the filters;
 * - the min/max mod and create revision filters drop kvs (0: no bound);
 * - sorting: a target other than the key with order None sorts ascending; keys that compare
 *   equal on the target keep ascending key order, in both directions (etcd sorts with Go's
 *   sort.Sort, which keeps that order for up to 12 kvs and leaves larger ties unspecified);
 * - `limit` then cuts the list, and `more` says it did (never with countOnly);
 * - `keysOnly` drops values (after a sort by value), `countOnly` drops the kvs.
 */
import { CompactedError, FutureRevisionError, RangeTooLargeError } from '../errors';
import type { KeyValue, RangeRequest, RangeResponse } from '../kv-types';
import { SortOrder, SortTarget } from '../kv-types';
import { assertNever } from '../util/assert-never';
import { compareBytes, isEmptyRange, isSingleKey, spanToScan } from './key-span';
import type { KvSource, ScanMode } from './kv-source';
import { shapeRecord, withoutValue } from './kv-source';

/** Bytes a kv is charged against maxRangeResponseBytes. */
export function kvResponseBytes(kv: KeyValue): number {
  return kv.key.byteLength + kv.value.byteLength + 32;
}

/**
 * Checks that a read may happen at `requested` (0: current) on a store at `current` whose
 * history starts at `compacted`, in etcd's order: a future revision first, then a compacted one.
 */
export function checkReadRevision(requested: number, current: number, compacted: number): void {
  if (requested > current) {
    throw FutureRevisionError.of(requested, current);
  }
  if (requested > 0 && requested < compacted) {
    throw CompactedError.of(requested, compacted);
  }
}

/** A read at `requested` (0: current) that the latest state answers. */
export function readsLatest(requested: number | undefined, current: number): boolean {
  return requested === undefined || requested === 0 || requested === current;
}

interface RangeShape {
  readonly limit: number;
  readonly countOnly: boolean;
  readonly keysOnly: boolean;
  /** Sort order after etcd's defaulting (None only for the natural key order). */
  readonly order: SortOrder;
  readonly target: SortTarget;
  /** Filters or a sort: every kv of the range is gathered before the limit applies. */
  readonly gatherAll: boolean;
  readonly mode: ScanMode;
}

function shapeOf(request: RangeRequest): RangeShape {
  const target = request.sortTarget ?? SortTarget.Key;
  let order = request.sortOrder ?? SortOrder.None;
  if (order === SortOrder.None && target !== SortTarget.Key) {
    order = SortOrder.Ascend;
  }
  const countOnly = request.countOnly === true;
  const keysOnly = request.keysOnly === true;
  const filtered = (request.minModRevision ?? 0) > 0 || (request.maxModRevision ?? 0) > 0 || (request.minCreateRevision ?? 0) > 0 || (request.maxCreateRevision ?? 0) > 0;
  const mode: ScanMode = countOnly ? 'keys' : keysOnly && target !== SortTarget.Value ? 'metadata' : 'values';
  return { limit: request.limit ?? 0, countOnly, keysOnly, order, target, gatherAll: filtered || order !== SortOrder.None, mode };
}

/** Whether a kv passes the request's revision filters. */
function passes(request: RangeRequest, kv: KeyValue): boolean {
  const { minModRevision = 0, maxModRevision = 0, minCreateRevision = 0, maxCreateRevision = 0 } = request;
  return (
    (maxModRevision <= 0 || kv.modRevision <= maxModRevision) &&
    (minModRevision <= 0 || kv.modRevision >= minModRevision) &&
    (maxCreateRevision <= 0 || kv.createRevision <= maxCreateRevision) &&
    (minCreateRevision <= 0 || kv.createRevision >= minCreateRevision)
  );
}

function compareOn(target: SortTarget, a: KeyValue, b: KeyValue): number {
  switch (target) {
    case SortTarget.Key:
      return compareBytes(a.key, b.key);
    case SortTarget.Version:
      return a.version - b.version;
    case SortTarget.Create:
      return a.createRevision - b.createRevision;
    case SortTarget.Mod:
      return a.modRevision - b.modRevision;
    case SortTarget.Value:
      return compareBytes(a.value, b.value);
    default:
      return assertNever(target);
  }
}

/** Sorts kvs gathered in key order; ties keep that order (Array.prototype.sort is stable). */
function sortKvs(kvs: KeyValue[], shape: RangeShape): void {
  if (shape.order === SortOrder.None) {
    return;
  }
  const direction = shape.order === SortOrder.Descend ? -1 : 1;
  kvs.sort((a, b) => direction * compareOn(shape.target, a, b));
}

/**
 * Reads a range from `source`, reporting `revision` in the header. Throws RangeTooLargeError
 * when the kvs gathered exceed `maxResponseBytes`.
 */
export async function readRange(source: KvSource, request: RangeRequest, revision: number, maxResponseBytes: number): Promise<RangeResponse> {
  const header = { revision };
  const shape = shapeOf(request);
  let records: AsyncIterable<KeyValue> | KeyValue[];
  if (isSingleKey(request)) {
    const kv = await source.get(request.key);
    records = kv === undefined ? [] : [shapeRecord(kv, shape.mode)];
  } else {
    const range = spanToScan(request);
    records = isEmptyRange(range) ? [] : source.scan(range, shape.mode);
  }
  let kvs: KeyValue[] = [];
  let count = 0;
  let bytes = 0;
  for await (const kv of records) {
    count++;
    if (shape.countOnly || (!shape.gatherAll && shape.limit > 0 && kvs.length >= shape.limit) || !passes(request, kv)) {
      continue;
    }
    bytes += kvResponseBytes(kv);
    if (bytes > maxResponseBytes) {
      throw RangeTooLargeError.exceeded(maxResponseBytes);
    }
    kvs.push(kv);
  }
  if (shape.countOnly) {
    return { header, kvs: [], more: false, count };
  }
  sortKvs(kvs, shape);
  let more = shape.gatherAll ? kvs.length > shape.limit && shape.limit > 0 : shape.limit > 0 && count > shape.limit;
  if (shape.limit > 0 && kvs.length > shape.limit) {
    kvs = kvs.slice(0, shape.limit);
    more = true;
  }
  if (shape.keysOnly && shape.mode === 'values') {
    kvs = kvs.map(withoutValue);
  }
  return { header, kvs, more, count };
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
