/**
 * Binary form of what a client session remembers (a write's response or its rejection), and
 * of key-value records, shared by the session table, RocksDB records and snapshot records.
 *
 *     outcome  := u8 version (1) | u8 kind (0 response, 1 rejected) | body
 *     response := u8 type (1 put, 2 deleteRange, 3 txn, 4 compact) | varint revision | type fields
 *     rejected := string code | string message
 *     kv       := bytes key | varint create | varint mod | varint version | bytes value
 */
import type { RememberedOutcome } from '../command-types';
import { commandErrorFromCode } from '../errors';
import type { CompactResponse, DeleteRangeResponse, KeyValue, PutResponse, RangeResponse, ResponseOp, TxnResponse, WriteResponse } from '../kv-types';
import { assertNever } from '../util/assert-never';
import { ByteReader } from './byte-reader';
import type { DecodeErrorFactory } from './byte-reader';
import { ByteWriter } from './byte-writer';

const OUTCOME_VERSION = 1;
const MAX_FIELD_BYTES = Number.MAX_SAFE_INTEGER;

const enum ResponseTag {
  Range = 0,
  Put = 1,
  DeleteRange = 2,
  Txn = 3,
  Compact = 4,
}

export function writeKeyValue(out: ByteWriter, kv: KeyValue): void {
  out.bytes(kv.key).varint(kv.createRevision).varint(kv.modRevision).varint(kv.version).bytes(kv.value);
}

export function readKeyValue(input: ByteReader): KeyValue {
  const key = input.bytes(MAX_FIELD_BYTES, 'key');
  const createRevision = input.varint();
  const modRevision = input.varint();
  const version = input.varint();
  const value = input.bytes(MAX_FIELD_BYTES, 'value');
  return { key, createRevision, modRevision, version, value };
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
  if (version !== OUTCOME_VERSION) {
    throw fail(`unknown outcome version ${version}`, 0);
  }
  const kind = input.u8();
  let outcome: RememberedOutcome;
  if (kind === 0) {
    const tag = input.u8();
    const op = readResponseOp(input, tag, fail);
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
        writeKeyValue(out, r.prevKv);
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
    default:
      assertNever(response);
  }
}

function writeKeyValues(out: ByteWriter, kvs: readonly KeyValue[]): void {
  out.varint(kvs.length);
  for (const kv of kvs) {
    writeKeyValue(out, kv);
  }
}

function readKeyValues(input: ByteReader, fail: DecodeErrorFactory): KeyValue[] {
  const count = input.varint();
  if (count > input.remaining) {
    throw fail(`kv count ${count} exceeds the remaining bytes`, input.offset);
  }
  const kvs: KeyValue[] = [];
  for (let i = 0; i < count; i++) {
    kvs.push(readKeyValue(input));
  }
  return kvs;
}

function readResponseOp(input: ByteReader, tag: number, fail: DecodeErrorFactory): ResponseOp | { type: 'compact'; response: CompactResponse } {
  const header = { revision: input.varint() };
  switch (tag) {
    case ResponseTag.Range: {
      const count = input.varint();
      const more = input.bool();
      const response: RangeResponse = { header, kvs: readKeyValues(input, fail), more, count };
      return { type: 'range', response };
    }
    case ResponseTag.Put: {
      const response: PutResponse = input.bool() ? { header, prevKv: readKeyValue(input) } : { header };
      return { type: 'put', response };
    }
    case ResponseTag.DeleteRange: {
      const deleted = input.varint();
      const response: DeleteRangeResponse = { header, deleted, prevKvs: readKeyValues(input, fail) };
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
        const op = readResponseOp(input, input.u8(), fail);
        if (op.type === 'compact') {
          throw fail('a compaction inside a txn response', input.offset);
        }
        responses.push(op);
      }
      const response: TxnResponse = { header, succeeded, responses };
      return { type: 'txn', response };
    }
    case ResponseTag.Compact:
      return { type: 'compact', response: { header } };
    default:
      throw fail(`unknown response tag ${tag}`, input.offset);
  }
}
