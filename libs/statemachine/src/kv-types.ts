/**
 * The key-value vocabulary of the state machine, mirroring etcd v3.4's `etcdserverpb` KV
 * messages (field names as ts-proto spells them) but defined here, so the state machine does
 * not depend on generated protobuf code. The app converts at its edge and fills in the header
 * fields the state machine does not know (cluster id, member id, raft term).
 *
 * Revisions, versions and counts are JavaScript numbers: safe integers (< 2^53), which the
 * codecs check. Keys and values are raw bytes compared in unsigned byte order.
 */

/** What the state machine knows of an etcd ResponseHeader: the store revision. */
export interface ResponseHeader {
  /** The store revision when the response was produced (after the write, for writes). */
  readonly revision: number;
}

/** One key as stored (etcd's mvccpb.KeyValue). */
export interface KeyValue {
  readonly key: Uint8Array;
  /** Revision of the write that created the key (since its last deletion). >= 2. */
  readonly createRevision: number;
  /** Revision of the last write to the key. createRevision <= modRevision. */
  readonly modRevision: number;
  /** Writes since creation: 1 on creation; a delete resets the key (it no longer exists). */
  readonly version: number;
  /** Empty in `keysOnly` and `countOnly` responses. */
  readonly value: Uint8Array;
  /** The lease the key is attached to; absent (or 0n) for none. */
  readonly lease?: bigint;
}

/**
 * Which keys a request covers, as etcd encodes it:
 * - `rangeEnd` empty: the single key `key`;
 * - `rangeEnd` = [0x00]: every key >= `key` (and key = [0x00] too: every key);
 * - otherwise the half-open range [key, rangeEnd); an inverted range is empty.
 * A prefix p is the range [p, p with its last byte < 0xff incremented and the rest dropped).
 */
export interface KeySpan {
  readonly key: Uint8Array;
  readonly rangeEnd?: Uint8Array;
}

/** etcd's RangeRequest.SortOrder numbering. */
export enum SortOrder {
  None = 0,
  Ascend = 1,
  Descend = 2,
}

/** etcd's RangeRequest.SortTarget numbering. */
export enum SortTarget {
  Key = 0,
  Version = 1,
  Create = 2,
  Mod = 3,
  Value = 4,
}

/**
 * etcd's RangeRequest. Filters, sorting and the limit apply as etcd 3.4 applies them: the
 * min/max filters drop kvs (0 means no bound) but not from `count`; a sort target other than
 * the key with order None sorts ascending; equal sort keys keep ascending key order; then
 * `limit` cuts the list and sets `more`.
 */
export interface RangeRequest extends KeySpan {
  /** At most this many kvs; 0 or absent means no limit. */
  readonly limit?: number;
  /** Return only the count. */
  readonly countOnly?: boolean;
  /** Return keys without values. */
  readonly keysOnly?: boolean;
  /**
   * Read the keys as they were at this revision; 0 or absent means the current revision.
   * Below the compacted revision: CompactedError; above the current one: FutureRevisionError.
   */
  readonly revision?: number;
  readonly sortOrder?: SortOrder;
  readonly sortTarget?: SortTarget;
  readonly minModRevision?: number;
  readonly maxModRevision?: number;
  readonly minCreateRevision?: number;
  readonly maxCreateRevision?: number;
}

export interface RangeResponse {
  /** The current revision of the store, also for a read at a past revision (as etcd). */
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  /** True when the range holds more keys than `limit` returned. */
  readonly more: boolean;
  /** Number of keys in the range, whatever the limit. */
  readonly count: number;
}

/** etcd's PutRequest. */
export interface PutRequest {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Attach the key to this lease (it must exist: LeaseNotFoundError); absent or 0n: none. */
  readonly lease?: bigint;
  /** Return the key-value pair before the put. */
  readonly prevKv?: boolean;
  /** Keep the current value (the key must exist: KeyNotFoundError otherwise). */
  readonly ignoreValue?: boolean;
  /** Keep the current lease (the key must exist: KeyNotFoundError otherwise). */
  readonly ignoreLease?: boolean;
}

export interface PutResponse {
  readonly header: ResponseHeader;
  readonly prevKv?: KeyValue;
}

export interface DeleteRangeRequest extends KeySpan {
  readonly prevKv?: boolean;
}

export interface DeleteRangeResponse {
  readonly header: ResponseHeader;
  /** Number of keys deleted. A delete of nothing does not create a revision. */
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

/** etcd's Compare.CompareResult numbering. */
export enum CompareResult {
  Equal = 0,
  Greater = 1,
  Less = 2,
  NotEqual = 3,
}

/** etcd's Compare.CompareTarget numbering. */
export enum CompareTarget {
  Version = 0,
  Create = 1,
  Mod = 2,
  Value = 3,
  Lease = 4,
}

/**
 * One txn guard. Over a range, every key in it must satisfy the comparison; over an empty
 * range (or a missing key) the key counts as version 0, create and mod revision 0, and a
 * value comparison always fails (etcd 3.4 semantics).
 */
export type Compare = KeySpan &
  (
    | { readonly target: CompareTarget.Version | CompareTarget.Create | CompareTarget.Mod; readonly result: CompareResult; readonly operand: number }
    | { readonly target: CompareTarget.Value; readonly result: CompareResult; readonly value: Uint8Array }
    /** A missing key compares as lease 0 (etcd). */
    | { readonly target: CompareTarget.Lease; readonly result: CompareResult; readonly lease: bigint }
  );

/** One operation of a txn branch. */
export type RequestOp =
  | { readonly type: 'range'; readonly request: RangeRequest }
  | { readonly type: 'put'; readonly request: PutRequest }
  | { readonly type: 'deleteRange'; readonly request: DeleteRangeRequest }
  | { readonly type: 'txn'; readonly request: TxnRequest };

export type ResponseOp =
  | { readonly type: 'range'; readonly response: RangeResponse }
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse };

/**
 * etcd's TxnRequest. All compares (of this txn and of the nested txns on the chosen path) are
 * evaluated against the state before the txn; the ops then run in order, each seeing the
 * writes of the ones before it; every write of the txn shares one new revision.
 */
export interface TxnRequest {
  readonly compare: readonly Compare[];
  readonly success: readonly RequestOp[];
  readonly failure: readonly RequestOp[];
}

export interface TxnResponse {
  readonly header: ResponseHeader;
  readonly succeeded: boolean;
  readonly responses: readonly ResponseOp[];
}

/**
 * etcd's CompactionRequest: forget every version of every key that a read at `revision` or
 * later cannot see. Reads below it then fail with CompactedError.
 */
export interface CompactRequest {
  readonly revision: number;
}

export interface CompactResponse {
  /** The store revision when the compaction was applied. */
  readonly header: ResponseHeader;
}

/** etcd's LeaseGrantResponse (what the state machine knows of it). */
export interface LeaseGrantResponse {
  readonly header: ResponseHeader;
  readonly id: bigint;
  /** The TTL granted, seconds. */
  readonly ttl: number;
}

/** etcd's LeaseRevokeResponse: the header's revision is after the deletion of the lease's keys. */
export interface LeaseRevokeResponse {
  readonly header: ResponseHeader;
}

/** The response to a write command. */
export type WriteResponse =
  | { readonly type: 'put'; readonly response: PutResponse }
  | { readonly type: 'deleteRange'; readonly response: DeleteRangeResponse }
  | { readonly type: 'txn'; readonly response: TxnResponse }
  | { readonly type: 'compact'; readonly response: CompactResponse }
  | { readonly type: 'leaseGrant'; readonly response: LeaseGrantResponse }
  | { readonly type: 'leaseRevoke'; readonly response: LeaseRevokeResponse }
  | { readonly type: 'leaseCheckpoint'; readonly response: { readonly header: ResponseHeader } };
