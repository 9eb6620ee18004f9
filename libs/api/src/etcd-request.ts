/**
 * etcd v3 requests (wire types) → state-machine requests, validated as etcd's v3rpc layer
 * validates them. Every refusal is a GrpcStatusError naming the problem: INVALID_ARGUMENT for
 * bad input, OUT_OF_RANGE for a revision no number holds.
 */
import { GrpcStatus, GrpcStatusError } from '@keyval/grpc';
import { etcd } from '@keyval/proto';
import { CompareResult, CompareTarget, SortOrder, SortTarget } from '@keyval/statemachine';
import type { Compare, DeleteRangeRequest, KeySpan, PutRequest, RangeRequest, RequestOp, TxnRequest } from '@keyval/statemachine';
import { ETCD_MESSAGES, invalidArgument } from './api.errors';

export interface ApiLimits {
  /** Largest encoded request, bytes (etcd's --max-request-bytes). Default 1.5 MiB. */
  readonly maxRequestBytes: number;
  /** Most operations in one txn branch, and compares (etcd's --max-txn-ops). Default 128. */
  readonly maxTxnOps: number;
}

export const DEFAULT_API_LIMITS: ApiLimits = { maxRequestBytes: 1.5 * 1024 * 1024, maxTxnOps: 128 };

/** A non-negative int64 as a number; negative counts as 0 (etcd treats them as unset). */
function atLeastZero(value: bigint, field: string): number {
  if (value <= 0n) {
    return 0;
  }
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${value} is too large`);
  }
  return Number(value);
}

/** An int64 compare operand as a number (etcd compares any int64; ours are safe integers). */
function operand(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${value} is too large`);
  }
  return Number(value);
}

/** Validates a key and range_end: etcd refuses only an empty key (an inverted range is empty). */
function span(key: Buffer, rangeEnd: Buffer): KeySpan {
  if (key.length === 0) {
    throw invalidArgument(ETCD_MESSAGES.emptyKey);
  }
  return rangeEnd.length === 0 ? { key } : { key, rangeEnd };
}

export function checkRequestSize(bytes: number, limits: ApiLimits): void {
  if (bytes > limits.maxRequestBytes) {
    throw invalidArgument(`${ETCD_MESSAGES.requestTooLarge} (${bytes} bytes; the limit is ${limits.maxRequestBytes})`);
  }
}

const SORT_ORDERS: Readonly<Record<number, SortOrder>> = {
  [etcd.RangeRequest_SortOrder.NONE]: SortOrder.None,
  [etcd.RangeRequest_SortOrder.ASCEND]: SortOrder.Ascend,
  [etcd.RangeRequest_SortOrder.DESCEND]: SortOrder.Descend,
};

const SORT_TARGETS: Readonly<Record<number, SortTarget>> = {
  [etcd.RangeRequest_SortTarget.KEY]: SortTarget.Key,
  [etcd.RangeRequest_SortTarget.VERSION]: SortTarget.Version,
  [etcd.RangeRequest_SortTarget.CREATE]: SortTarget.Create,
  [etcd.RangeRequest_SortTarget.MOD]: SortTarget.Mod,
  [etcd.RangeRequest_SortTarget.VALUE]: SortTarget.Value,
};

/**
 * A range as the state machine takes it. A revision past what a number holds is a future
 * revision; negative limits, revisions and filters mean "none", as in etcd.
 */
export function rangeFromWire(pb: etcd.RangeRequest): RangeRequest {
  const keys = span(pb.key, pb.rangeEnd);
  const sortOrder = SORT_ORDERS[pb.sortOrder];
  if (sortOrder === undefined) {
    throw invalidArgument(`unknown sort_order ${pb.sortOrder}`);
  }
  const sortTarget = SORT_TARGETS[pb.sortTarget];
  if (sortTarget === undefined) {
    throw invalidArgument(`unknown sort_target ${pb.sortTarget}`);
  }
  if (pb.revision > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new GrpcStatusError(GrpcStatus.OUT_OF_RANGE, ETCD_MESSAGES.futureRevision);
  }
  const fields = {
    limit: atLeastZero(pb.limit, 'limit'),
    revision: atLeastZero(pb.revision, 'revision'),
    minModRevision: atLeastZero(pb.minModRevision, 'min_mod_revision'),
    maxModRevision: atLeastZero(pb.maxModRevision, 'max_mod_revision'),
    minCreateRevision: atLeastZero(pb.minCreateRevision, 'min_create_revision'),
    maxCreateRevision: atLeastZero(pb.maxCreateRevision, 'max_create_revision'),
  };
  const set = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== 0));
  return {
    ...keys,
    ...set,
    ...(pb.countOnly && { countOnly: true }),
    ...(pb.keysOnly && { keysOnly: true }),
    ...(sortOrder !== SortOrder.None && { sortOrder }),
    ...(sortTarget !== SortTarget.Key && { sortTarget }),
  };
}

export function putFromWire(pb: etcd.PutRequest): PutRequest {
  if (pb.key.length === 0) {
    throw invalidArgument(ETCD_MESSAGES.emptyKey);
  }
  if (pb.ignoreValue && pb.value.length > 0) {
    throw invalidArgument(ETCD_MESSAGES.valueProvided);
  }
  if (pb.ignoreLease && pb.lease !== 0n) {
    throw invalidArgument(ETCD_MESSAGES.leaseProvided);
  }
  if (pb.lease < 0n) {
    // No lease has a negative id: etcd would not find it either.
    throw new GrpcStatusError(GrpcStatus.NOT_FOUND, ETCD_MESSAGES.leaseNotFound);
  }
  return {
    key: pb.key,
    value: pb.value,
    prevKv: pb.prevKv,
    ignoreValue: pb.ignoreValue,
    ...(pb.lease !== 0n && { lease: pb.lease }),
    ...(pb.ignoreLease && { ignoreLease: true }),
  };
}

export function deleteFromWire(pb: etcd.DeleteRangeRequest): DeleteRangeRequest {
  return { ...span(pb.key, pb.rangeEnd), prevKv: pb.prevKv };
}

const RESULTS: Record<number, CompareResult> = {
  [etcd.Compare_CompareResult.EQUAL]: CompareResult.Equal,
  [etcd.Compare_CompareResult.GREATER]: CompareResult.Greater,
  [etcd.Compare_CompareResult.LESS]: CompareResult.Less,
  [etcd.Compare_CompareResult.NOT_EQUAL]: CompareResult.NotEqual,
};

function compareFromWire(pb: etcd.Compare): Compare {
  const keys = span(pb.key, pb.rangeEnd);
  const result = RESULTS[pb.result];
  if (result === undefined) {
    throw invalidArgument(`unknown compare result ${pb.result}`);
  }
  const union = pb.targetUnion;
  switch (pb.target) {
    case etcd.Compare_CompareTarget.VERSION:
      return { ...keys, target: CompareTarget.Version, result, operand: union?.$case === 'version' ? operand(union.value, 'compare version') : 0 };
    case etcd.Compare_CompareTarget.CREATE:
      return { ...keys, target: CompareTarget.Create, result, operand: union?.$case === 'createRevision' ? operand(union.value, 'compare create_revision') : 0 };
    case etcd.Compare_CompareTarget.MOD:
      return { ...keys, target: CompareTarget.Mod, result, operand: union?.$case === 'modRevision' ? operand(union.value, 'compare mod_revision') : 0 };
    case etcd.Compare_CompareTarget.VALUE:
      return { ...keys, target: CompareTarget.Value, result, value: union?.$case === 'value' ? union.value : Buffer.alloc(0) };
    case etcd.Compare_CompareTarget.LEASE: {
      const lease = union?.$case === 'lease' ? union.value : 0n;
      if (lease < 0n) {
        throw invalidArgument(`compare lease ${lease} is negative: lease ids are positive`);
      }
      return { ...keys, target: CompareTarget.Lease, result, lease };
    }
    default:
      throw invalidArgument(`unknown compare target ${pb.target}`);
  }
}

function opFromWire(op: etcd.RequestOp, limits: ApiLimits, budget: number): RequestOp {
  const r = op.request;
  switch (r?.$case) {
    case 'requestRange':
      return { type: 'range', request: rangeFromWire(r.value) };
    case 'requestPut':
      return { type: 'put', request: putFromWire(r.value) };
    case 'requestDeleteRange':
      return { type: 'deleteRange', request: deleteFromWire(r.value) };
    case 'requestTxn':
      return { type: 'txn', request: txnOps(r.value, limits, budget) };
    default:
      // etcd answers an empty operation so.
      throw invalidArgument(ETCD_MESSAGES.keyNotFound);
  }
}

/**
 * etcd's --max-txn-ops: the longest of the compares, the success ops and the failure ops; a
 * nested txn gets what its parent left (etcd's checkTxnRequest).
 */
function txnOps(pb: etcd.TxnRequest, limits: ApiLimits, budget: number): TxnRequest {
  const longest = Math.max(pb.compare.length, pb.success.length, pb.failure.length);
  if (longest > budget) {
    throw invalidArgument(`${ETCD_MESSAGES.tooManyOps} (${longest}; the limit is ${budget})`);
  }
  const compare = pb.compare.map(compareFromWire);
  const branch = (ops: readonly etcd.RequestOp[]): RequestOp[] => ops.map((op) => opFromWire(op, limits, budget - longest));
  return { compare, success: branch(pb.success), failure: branch(pb.failure) };
}

export function txnFromWire(pb: etcd.TxnRequest, limits: ApiLimits): { request: TxnRequest } {
  const request = txnOps(pb, limits, limits.maxTxnOps);
  checkIntervals(request.success);
  checkIntervals(request.failure);
  return { request };
}

/** Puts and deletes of a list of ops and of the txns nested in it. */
interface OpWrites {
  readonly puts: Set<string>;
  readonly deletes: KeySpan[];
}

function inSpan(key: Buffer, s: KeySpan): boolean {
  const start = Buffer.from(s.key);
  if (s.rangeEnd === undefined || s.rangeEnd.length === 0) {
    return key.equals(start);
  }
  const end = Buffer.from(s.rangeEnd);
  const toTheEnd = end.length === 1 && end[0] === 0;
  return Buffer.compare(key, start) >= 0 && (toTheEnd || Buffer.compare(key, end) < 0);
}

/**
 * etcd's checkIntervals: within one txn, counting the txns nested in it, no key is put twice
 * (a then-branch and an else-branch may both put it: only one runs) and no key is both put
 * and deleted; otherwise "duplicate key". A delete to the end of the key space ("\0") counts
 * as reaching every key after its start (etcd ignores such a delete here).
 */
function checkIntervals(ops: readonly RequestOp[]): OpWrites {
  const deletes: KeySpan[] = ops.flatMap((op) => (op.type === 'deleteRange' ? [op.request] : []));
  const puts = new Set<string>();
  const deleted = (key: string): boolean => deletes.some((d) => inSpan(Buffer.from(key, 'latin1'), d));
  for (const op of ops) {
    if (op.type !== 'txn') {
      continue;
    }
    const then = checkIntervals(op.request.success);
    const otherwise = checkIntervals(op.request.failure);
    for (const key of then.puts) {
      if (puts.has(key) || deleted(key)) {
        throw invalidArgument(ETCD_MESSAGES.duplicateKey);
      }
      puts.add(key);
    }
    for (const key of otherwise.puts) {
      if ((puts.has(key) && !then.puts.has(key)) || deleted(key)) {
        throw invalidArgument(ETCD_MESSAGES.duplicateKey);
      }
      puts.add(key);
    }
    deletes.push(...then.deletes, ...otherwise.deletes);
  }
  for (const op of ops) {
    if (op.type !== 'put') {
      continue;
    }
    const key = Buffer.from(op.request.key).toString('latin1');
    if (puts.has(key) || deleted(key)) {
      throw invalidArgument(ETCD_MESSAGES.duplicateKey);
    }
    puts.add(key);
  }
  return { puts, deletes };
}

/** Whether a txn writes anything on either branch (read-only txns need no log entry). */
export function txnWrites(request: TxnRequest): boolean {
  const writes = (ops: readonly RequestOp[]): boolean => ops.some((op) => op.type === 'put' || op.type === 'deleteRange' || (op.type === 'txn' && txnWrites(op.request)));
  return writes(request.success) || writes(request.failure);
}
