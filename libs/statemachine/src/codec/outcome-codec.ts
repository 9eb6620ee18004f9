/**
 * Binary form of what a client session remembers (a write's response or its rejection), and
 * of key-value records, shared by the session table, RocksDB records and snapshot records.
 *
 *     outcome  := u8 version (2; 1 is still read) | u8 kind (0 response, 1 rejected) | body
 *     response := u8 type (1 put, 2 deleteRange, 3 txn, 4 compact, 5 leaseGrant, 6 leaseRevoke,
 *                 7 leaseCheckpoint) | varint revision | type fields
 *     rejected := string code | string message
 *     kv       := bytes key | varint create | varint mod | varint version | bytes value
 *                 | [version 2: u64 lease]
 */
import type { RememberedOutcome } from '../command-types';
import { commandErrorFromCode } from '../errors';
import type { DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, ResponseOp, TxnResponse, WriteResponse } from '../kv-types';
import { assertNever } from '../util/assert-never';
import { ByteReader } from './byte-reader';
import type { DecodeErrorFactory } from './byte-reader';
import { ByteWriter } from './byte-writer';

const OUTCOME_VERSION = 2;
const MAX_FIELD_BYTES = Number.MAX_SAFE_INTEGER;

const enum ResponseTag {
  Range = 0,
  Put = 1,
  DeleteRange = 2,
  Txn = 3,
  Compact = 4,
  LeaseGrant = 5,
  LeaseRevoke = 6,
  LeaseCheckpoint = 7,
}

/** Writes a kv; `withLease` (outcome version 2) adds its lease. */
export function writeKeyValue(out: ByteWriter, kv: KeyValue, withLease = false): void {
  out.bytes(kv.key).varint(kv.createRevision).varint(kv.modRevision).varint(kv.version).bytes(kv.value);
  if (withLease) {
    out.u64(kv.lease ?? 0n);
  }
}

export function readKeyValue(input: ByteReader, withLease = false): KeyValue {
  const key = input.bytes(MAX_FIELD_BYTES, 'key');
  const createRevision = input.varint();
  const modRevision = input.varint();
  const version = input.varint();
  const value = input.bytes(MAX_FIELD_BYTES, 'value');
  const lease = withLease ? input.u64() : 0n;
  return lease === 0n ? { key, createRevision, modRevision, version, value } : { key, createRevision, modRevision, version, value, lease };
}

/** Encodes a remembered outcome. */
export function encodeOutcome(outcome: RememberedOutcome): Uint8Array {
  const out = new ByteWriter(64);
  out.u8(OUTCOME_VERSION);
  if (outcome.kind === 'response') {
    out.u8(0);
    writeResponse(out, outcome.response);
  } else {
    out.u8(1).string(outcome.error.code).string(outcome.error.message);
  }
  return out.finish();
}

/** Decodes what encodeOutcome wrote; failures go through `fail` (a corruption error). */
export function decodeOutcome(bytes: Uint8Array, fail: DecodeErrorFactory): RememberedOutcome {
  const input = new ByteReader(bytes, fail);
  const version = input.u8();
  if (version !== 1 && version !== OUTCOME_VERSION) {
    throw fail(`unknown outcome version ${version}`, 0);
  }
  const kind = input.u8();
  let outcome: RememberedOutcome;
  if (kind === 0) {
    const tag = input.u8();
    const op = readResponseOp(input, tag, fail, version === OUTCOME_VERSION);
    if (op.type === 'range') {
      throw fail('a range is not a write response', input.offset);
    }
    outcome = { kind: 'response', response: op };
  } else if (kind === 1) {
    const code = input.string(1024, 'error code');
    const message = input.string(MAX_FIELD_BYTES, 'error message');
    const error = commandErrorFromCode(code, message);
    if (error === undefined) {
      throw fail(`unknown error code ${code}`, input.offset);
    }
    outcome = { kind: 'rejected', error };
  } else {
    throw fail(`unknown outcome kind ${kind}`, 1);
  }
  input.end();
  return outcome;
}

function writeResponse(out: ByteWriter, response: WriteResponse | ResponseOp): void {
  switch (response.type) {
    case 'range': {
      const r = response.response;
      out.u8(ResponseTag.Range).varint(r.header.revision).varint(r.count).bool(r.more);
      writeKeyValues(out, r.kvs);
      break;
    }
    case 'put': {
      const r = response.response;
      out.u8(ResponseTag.Put).varint(r.header.revision).bool(r.prevKv !== undefined);
      if (r.prevKv !== undefined) {
        writeKeyValue(out, r.prevKv, true);
      }
      break;
    }
    case 'deleteRange': {
      const r = response.response;
      out.u8(ResponseTag.DeleteRange).varint(r.header.revision).varint(r.deleted);
      writeKeyValues(out, r.prevKvs);
      break;
    }
    case 'txn': {
      const r = response.response;
      out.u8(ResponseTag.Txn).varint(r.header.revision).bool(r.succeeded).varint(r.responses.length);
      for (const op of r.responses) {
        writeResponse(out, op);
      }
      break;
    }
    case 'compact':
      out.u8(ResponseTag.Compact).varint(response.response.header.revision);
      break;
    case 'leaseGrant':
      out.u8(ResponseTag.LeaseGrant).varint(response.response.header.revision).u64(response.response.id).varint(response.response.ttl);
      break;
    case 'leaseRevoke':
      out.u8(ResponseTag.LeaseRevoke).varint(response.response.header.revision);
      break;
    case 'leaseCheckpoint':
      out.u8(ResponseTag.LeaseCheckpoint).varint(response.response.header.revision);
      break;
    default:
      assertNever(response);
  }
}

function writeKeyValues(out: ByteWriter, kvs: readonly KeyValue[]): void {
  out.varint(kvs.length);
  for (const kv of kvs) {
    writeKeyValue(out, kv, true);
  }
}

function readKeyValues(input: ByteReader, fail: DecodeErrorFactory, withLease: boolean): KeyValue[] {
  const count = input.varint();
  if (count > input.remaining) {
    throw fail(`kv count ${count} exceeds the remaining bytes`, input.offset);
  }
  const kvs: KeyValue[] = [];
  for (let i = 0; i < count; i++) {
    kvs.push(readKeyValue(input, withLease));
  }
  return kvs;
}

type TopLevelResponse = Exclude<WriteResponse, { type: 'put' | 'deleteRange' | 'txn' }>;

function readResponseOp(input: ByteReader, tag: number, fail: DecodeErrorFactory, withLease: boolean): ResponseOp | TopLevelResponse {
  const header = { revision: input.varint() };
  switch (tag) {
    case ResponseTag.Range: {
      const count = input.varint();
      const more = input.bool();
      const response: RangeResponse = { header, kvs: readKeyValues(input, fail, withLease), more, count };
      return { type: 'range', response };
    }
    case ResponseTag.Put: {
      const response: PutResponse = input.bool() ? { header, prevKv: readKeyValue(input, withLease) } : { header };
      return { type: 'put', response };
    }
    case ResponseTag.DeleteRange: {
      const deleted = input.varint();
      const response: DeleteRangeResponse = { header, deleted, prevKvs: readKeyValues(input, fail, withLease) };
      return { type: 'deleteRange', response };
    }
    case ResponseTag.Txn: {
      const succeeded = input.bool();
      const count = input.varint();
      if (count > input.remaining) {
        throw fail(`response count ${count} exceeds the remaining bytes`, input.offset);
      }
      const responses: ResponseOp[] = [];
      for (let i = 0; i < count; i++) {
        const op = readResponseOp(input, input.u8(), fail, withLease);
        if (op.type !== 'range' && op.type !== 'put' && op.type !== 'deleteRange' && op.type !== 'txn') {
          throw fail(`a ${op.type} response inside a txn response`, input.offset);
        }
        responses.push(op);
      }
      const response: TxnResponse = { header, succeeded, responses };
      return { type: 'txn', response };
    }
    case ResponseTag.Compact:
      return { type: 'compact', response: { header } };
    case ResponseTag.LeaseGrant:
      return { type: 'leaseGrant', response: { header, id: input.u64(), ttl: input.varint() } };
    case ResponseTag.LeaseRevoke:
      return { type: 'leaseRevoke', response: { header } };
    case ResponseTag.LeaseCheckpoint:
      return { type: 'leaseCheckpoint', response: { header } };
    default:
      throw fail(`unknown response tag ${tag}`, input.offset);
  }
}
