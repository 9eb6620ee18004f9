/**
 * etcd v3 requests (wire types) → state-machine requests, validated. Every refusal is a
 * GrpcStatusError naming the problem: INVALID_ARGUMENT for bad input, UNIMPLEMENTED for a
 * feature KeyVal does not have (leases, reading at a past revision), OUT_OF_RANGE for a future
 * revision, as etcd answers them.
 */
import { etcd } from '@keyval/proto';
import { CompareResult, CompareTarget } from '@keyval/statemachine';
import type { Compare, DeleteRangeRequest, KeySpan, PutRequest, RangeRequest, RequestOp, TxnRequest } from '@keyval/statemachine';
import { ETCD_MESSAGES, invalidArgument, unimplemented } from './api.errors';

export interface ApiLimits {
  /** Largest encoded request, bytes (etcd's --max-request-bytes). Default 1.5 MiB. */
  readonly maxRequestBytes: number;
  /** Most operations in one txn branch, and compares (etcd's --max-txn-ops). Default 128. */
  readonly maxTxnOps: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = { maxRequestBytes: 1.5 * 1024 * 1024, maxTxnOps: 128 };

/** What a range needs after the state machine answered: sorting, filters and a revision check. */
export interface RangePlan {
  readonly request: RangeRequest;
  readonly limit: number;
  readonly sortOrder: etcd.RangeRequest_SortOrder;
  readonly sortTarget: etcd.RangeRequest_SortTarget;
  /** The revision asked for (0: latest). */
  readonly revision: number;
  readonly filters: { readonly minMod: number; readonly maxMod: number; readonly minCreate: number; readonly maxCreate: number };
  /** Whether the state machine must return the whole range (sorting or filtering in the app). */
  readonly postProcess: boolean;
}

function safe(value: bigint, field: string): number {
  if (value < 0n) {
    throw invalidArgument(`${field} must not be negative (got ${value})`);
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${value} is too large`);
  }
  return Number(value);
}

/** Validates a key and range_end; refuses an empty key and an inverted range. */
function span(key: Buffer, rangeEnd: Buffer, what: string): KeySpan {
  if (key.length === 0) {
    throw invalidArgument(ETCD_MESSAGES.emptyKey);
  }
  const isAllFrom = rangeEnd.length === 1 && rangeEnd[0] === 0;
  if (rangeEnd.length > 0 && !isAllFrom && Buffer.compare(rangeEnd, key) <= 0) {
    throw invalidArgument(`${what}: range_end ${JSON.stringify(rangeEnd.toString('latin1'))} does not sort after key ${JSON.stringify(key.toString('latin1'))} (an empty or inverted range)`);
  }
  return rangeEnd.length === 0 ? { key } : { key, rangeEnd };
}

export function checkRequestSize(bytes: number, limits: ApiLimits): void {
  if (bytes > limits.maxRequestBytes) {
    throw invalidArgument(`${ETCD_MESSAGES.requestTooLarge} (${bytes} bytes; the limit is ${limits.maxRequestBytes})`);
  }
}

export function planRange(pb: etcd.RangeRequest): RangePlan {
  const keys = span(pb.key, pb.rangeEnd, 'range');
  const limit = safe(pb.limit, 'limit');
  const revision = safe(pb.revision, 'revision');
  if (pb.sortOrder === etcd.RangeRequest_SortOrder.UNRECOGNIZED || !(pb.sortOrder in etcd.RangeRequest_SortOrder)) {
    throw invalidArgument(`unknown sort_order ${pb.sortOrder}`);
  }
  if (pb.sortTarget === etcd.RangeRequest_SortTarget.UNRECOGNIZED || !(pb.sortTarget in etcd.RangeRequest_SortTarget)) {
    throw invalidArgument(`unknown sort_target ${pb.sortTarget}`);
  }
  const filters = {
    minMod: safe(pb.minModRevision, 'min_mod_revision'),
    maxMod: safe(pb.maxModRevision, 'max_mod_revision'),
    minCreate: safe(pb.minCreateRevision, 'min_create_revision'),
    maxCreate: safe(pb.maxCreateRevision, 'max_create_revision'),
  };
  // Natural order is ascending by key; anything else, or a filter, is done here on the whole range.
  const sorted = pb.sortOrder !== etcd.RangeRequest_SortOrder.NONE && !(pb.sortOrder === etcd.RangeRequest_SortOrder.ASCEND && pb.sortTarget === etcd.RangeRequest_SortTarget.KEY);
  const filtered = filters.minMod + filters.maxMod + filters.minCreate + filters.maxCreate > 0;
  const postProcess = (sorted || filtered) && !pb.countOnly;
  const request: RangeRequest = { ...keys, limit: postProcess ? 0 : limit, countOnly: pb.countOnly, keysOnly: pb.keysOnly };
  return { request, limit, sortOrder: pb.sortOrder, sortTarget: pb.sortTarget, revision, filters, postProcess };
}

export function putFromWire(pb: etcd.PutRequest): PutRequest {
  if (pb.key.length === 0) {
    throw invalidArgument(ETCD_MESSAGES.emptyKey);
  }
  if (pb.lease !== 0n) {
    throw unimplemented('leases are not supported by KeyVal (put with lease)');
  }
  if (pb.ignoreValue && pb.value.length > 0) {
    throw invalidArgument(ETCD_MESSAGES.valueProvided);
  }
  return { key: pb.key, value: pb.value, prevKv: pb.prevKv, ignoreValue: pb.ignoreValue };
}

export function deleteFromWire(pb: etcd.DeleteRangeRequest): DeleteRangeRequest {
  return { ...span(pb.key, pb.rangeEnd, 'delete'), prevKv: pb.prevKv };
}

const RESULTS: Record<number, CompareResult> = {
  [etcd.Compare_CompareResult.EQUAL]: CompareResult.Equal,
  [etcd.Compare_CompareResult.GREATER]: CompareResult.Greater,
  [etcd.Compare_CompareResult.LESS]: CompareResult.Less,
  [etcd.Compare_CompareResult.NOT_EQUAL]: CompareResult.NotEqual,
};

function compareFromWire(pb: etcd.Compare): Compare {
  const keys = span(pb.key, pb.rangeEnd, 'compare');
  const result = RESULTS[pb.result];
  if (result === undefined) {
    throw invalidArgument(`unknown compare result ${pb.result}`);
  }
  const union = pb.targetUnion;
  switch (pb.target) {
    case etcd.Compare_CompareTarget.VERSION:
      return { ...keys, target: CompareTarget.Version, result, operand: union?.$case === 'version' ? safe(union.value, 'compare version') : 0 };
    case etcd.Compare_CompareTarget.CREATE:
      return { ...keys, target: CompareTarget.Create, result, operand: union?.$case === 'createRevision' ? safe(union.value, 'compare create_revision') : 0 };
    case etcd.Compare_CompareTarget.MOD:
      return { ...keys, target: CompareTarget.Mod, result, operand: union?.$case === 'modRevision' ? safe(union.value, 'compare mod_revision') : 0 };
    case etcd.Compare_CompareTarget.VALUE:
      return { ...keys, target: CompareTarget.Value, result, value: union?.$case === 'value' ? union.value : Buffer.alloc(0) };
    case etcd.Compare_CompareTarget.LEASE:
      throw unimplemented('leases are not supported by KeyVal (compare on lease)');
    default:
      throw invalidArgument(`unknown compare target ${pb.target}`);
  }
}

/** Keys written by a branch: single-key puts and delete spans, for etcd's duplicate-key rule. */
interface BranchWrites {
  readonly puts: Set<string>;
  readonly deletes: KeySpan[];
}

function opFromWire(op: etcd.RequestOp, limits: ApiLimits, writes: BranchWrites): RequestOp {
  const r = op.request;
  switch (r?.$case) {
    case 'requestRange': {
      const plan = planRange(r.value);
      if (plan.postProcess || plan.revision !== 0) {
        throw unimplemented('sorting, revision filters and past revisions are not supported inside a txn');
      }
      return { type: 'range', request: plan.request };
    }
    case 'requestPut': {
      const put = putFromWire(r.value);
      const key = Buffer.from(put.key).toString('latin1');
      if (writes.puts.has(key)) {
        throw invalidArgument(ETCD_MESSAGES.duplicateKey);
      }
      writes.puts.add(key);
      return { type: 'put', request: put };
    }
    case 'requestDeleteRange': {
      const del = deleteFromWire(r.value);
      writes.deletes.push(del);
      return { type: 'deleteRange', request: del };
    }
    case 'requestTxn': {
      const nested = txnFromWire(r.value, limits);
      return { type: 'txn', request: nested.request };
    }
    default:
      throw invalidArgument('a txn operation carries no request');
  }
}

function inSpan(key: Buffer, s: KeySpan): boolean {
  const k = Buffer.from(s.key);
  if (s.rangeEnd === undefined || s.rangeEnd.length === 0) {
    return key.equals(k);
  }
  const end = Buffer.from(s.rangeEnd);
  const all = end.length === 1 && end[0] === 0;
  return Buffer.compare(key, k) >= 0 && (all || Buffer.compare(key, end) < 0);
}

function branchFromWire(ops: readonly etcd.RequestOp[], limits: ApiLimits): RequestOp[] {
  if (ops.length > limits.maxTxnOps) {
    throw invalidArgument(`${ETCD_MESSAGES.tooManyOps} (${ops.length}; the limit is ${limits.maxTxnOps})`);
  }
  const writes: BranchWrites = { puts: new Set(), deletes: [] };
  const out = ops.map((op) => opFromWire(op, limits, writes));
  for (const put of writes.puts) {
    const key = Buffer.from(put, 'latin1');
    if (writes.deletes.some((d) => inSpan(key, d))) {
      throw invalidArgument(ETCD_MESSAGES.duplicateKey);
    }
  }
  return out;
}

export function txnFromWire(pb: etcd.TxnRequest, limits: ApiLimits): { request: TxnRequest } {
  if (pb.compare.length > limits.maxTxnOps) {
    throw invalidArgument(`${ETCD_MESSAGES.tooManyOps} (${pb.compare.length} compares; the limit is ${limits.maxTxnOps})`);
  }
  const compare = pb.compare.map(compareFromWire);
  return { request: { compare, success: branchFromWire(pb.success, limits), failure: branchFromWire(pb.failure, limits) } };
}

/** Whether a txn writes anything on either branch (read-only txns need no log entry). */
export function txnWrites(request: TxnRequest): boolean {
  const writes = (ops: readonly RequestOp[]): boolean => ops.some((op) => op.type === 'put' || op.type === 'deleteRange' || (op.type === 'txn' && txnWrites(op.request)));
  return writes(request.success) || writes(request.failure);
}
