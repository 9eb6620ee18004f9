/**
 * Txn compares, etcd 3.4 semantics: every key of the compare's range must satisfy it; with no
 * key, a missing key counts as version 0 and create/mod revision 0, and a value compare fails.
 */
import type { Compare, KeyValue } from '../kv-types';
import { CompareResult, CompareTarget } from '../kv-types';
import { assertNever } from '../util/assert-never';
import { compareBytes } from './key-span';
import type { KvSource } from './kv-source';
import { collectSpan } from './range-reader';

/** Evaluates one compare against the source. */
export async function compareHolds(source: KvSource, compare: Compare): Promise<boolean> {
  const kvs = await collectSpan(source, compare, compare.target === CompareTarget.Value ? 'values' : 'metadata');
  if (kvs.length === 0) {
    return compare.target === CompareTarget.Value ? false : compareOne(compare, undefined);
  }
  return kvs.every((kv) => compareOne(compare, kv));
}

/** Whether one key (undefined: missing) satisfies the compare. */
export function compareOne(compare: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  switch (compare.target) {
    case CompareTarget.Value:
      if (kv === undefined) {
        return false;
      }
      order = Math.sign(compareBytes(kv.value, compare.value));
      break;
    case CompareTarget.Version:
      order = Math.sign((kv?.version ?? 0) - compare.operand);
      break;
    case CompareTarget.Create:
      order = Math.sign((kv?.createRevision ?? 0) - compare.operand);
      break;
    case CompareTarget.Mod:
      order = Math.sign((kv?.modRevision ?? 0) - compare.operand);
      break;
    case CompareTarget.Lease: {
      const lease = kv?.lease ?? 0n;
      order = lease < compare.lease ? -1 : lease > compare.lease ? 1 : 0;
      break;
    }
    default:
      return assertNever(compare);
  }
  switch (compare.result) {
    case CompareResult.Equal:
      return order === 0;
    case CompareResult.NotEqual:
      return order !== 0;
    case CompareResult.Greater:
      return order > 0;
    case CompareResult.Less:
      return order < 0;
    default:
      return assertNever(compare.result);
  }
}
