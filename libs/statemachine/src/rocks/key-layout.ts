/**
 * How the state machine lays out its data in RocksDB. One key space, split by a prefix byte so
 * one forward pass over the database meets the metadata first, then sessions, then keys (the
 * order a snapshot file needs):
 *
 *     0x01 'F'             format marker      "keyval-statemachine/1"
 *     0x01 'A'             applied state      u8 1 | varint index | varint term | varint revision | varint log time ms
 *     0x01 'M'             membership         u8 1 | voters | learners | members
 *     0x02 <client id>     session            u8 1 | varint last seq | varint last index | varint last seen ms
 *                                             | u8 retained | [bytes outcome]
 *     0x03 <user key>      key-value record   u8 1 | varint create | varint mod | varint version | value bytes
 *
 * The applied state is rewritten by every apply batch, in the same write batch as the data.
 */
import type { LogIndex, Term } from '@keyval/raft';
import type { MembershipState } from '../command-types';
import { ByteReader } from '../codec/byte-reader';
import { ByteWriter } from '../codec/byte-writer';
import { decodeClientId } from '../codec/client-id';
import type { SessionRecord } from '../engine/session-table';
import { readMembership, writeMembership } from '../engine/membership';
import { StorageCorruptError } from '../errors';
import type { KeyValue } from '../kv-types';

export const PREFIX_META = 0x01;
export const PREFIX_SESSION = 0x02;
export const PREFIX_KV = 0x03;

export const FORMAT_KEY = Buffer.from([PREFIX_META, 0x46]);
export const APPLIED_KEY = Buffer.from([PREFIX_META, 0x41]);
export const MEMBERSHIP_KEY = Buffer.from([PREFIX_META, 0x4d]);
export const FORMAT_VALUE = Buffer.from('keyval-statemachine/1', 'utf8');

const RECORD_VERSION = 1;

/** The RocksDB key of a user key. */
export function kvKey(key: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(key.byteLength + 1);
  out[0] = PREFIX_KV;
  out.set(key, 1);
  return out;
}

/** The RocksDB key of a session, from its encoded client id (SessionRecord.key, latin1). */
export function sessionKey(clientKeyLatin1: string): Buffer {
  return Buffer.concat([Buffer.of(PREFIX_SESSION), Buffer.from(clientKeyLatin1, 'latin1')]);
}

/** Bounds of a prefix: [prefix, prefix + 1). */
export function prefixBounds(prefix: number): { gte: Buffer; lt: Buffer } {
  return { gte: Buffer.of(prefix), lt: Buffer.of(prefix + 1) };
}

/** An error factory for a record; `where` is only computed when a record is corrupt. */
function corrupt(where: string | (() => string)): (message: string, offset: number) => Error {
  return (message, offset) => new StorageCorruptError(typeof where === 'string' ? where : where(), `${message} (byte ${offset})`);
}

export function encodeKvValue(kv: KeyValue): Buffer {
  const out = new ByteWriter(kv.value.byteLength + 16);
  out.u8(RECORD_VERSION).varint(kv.createRevision).varint(kv.modRevision).varint(kv.version).raw(kv.value);
  return out.finish();
}

/** Decodes a key-value record; `key` is the user key (without prefix). */
export function decodeKvValue(key: Uint8Array, value: Buffer): KeyValue {
  const input = new ByteReader(value, corrupt(() => `key-value record 0x${Buffer.from(key).toString('hex')}`));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError('key-value record', `unknown record version ${version}`);
  }
  const createRevision = input.varint();
  const modRevision = input.varint();
  const keyVersion = input.varint();
  return { key, createRevision, modRevision, version: keyVersion, value: value.subarray(input.offset) };
}

export interface AppliedState {
  readonly appliedIndex: LogIndex;
  readonly appliedTerm: Term;
  readonly revision: number;
  readonly logTimeMs: number;
}

export function encodeAppliedState(state: AppliedState): Buffer {
  const out = new ByteWriter(32);
  out.u8(RECORD_VERSION).varint(state.appliedIndex).varint(state.appliedTerm).varint(state.revision).varint(state.logTimeMs);
  return out.finish();
}

export function decodeAppliedState(value: Buffer): AppliedState {
  const input = new ByteReader(value, corrupt('applied state'));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError('applied state', `unknown record version ${version}`);
  }
  const state = { appliedIndex: input.varint() as LogIndex, appliedTerm: input.varint() as Term, revision: input.varint(), logTimeMs: input.varint() };
  input.end();
  return state;
}

export function encodeMembershipValue(membership: MembershipState): Buffer {
  const out = new ByteWriter(128);
  out.u8(RECORD_VERSION);
  writeMembership(out, membership);
  return out.finish();
}

export function decodeMembershipValue(value: Buffer): MembershipState {
  const input = new ByteReader(value, corrupt('membership'));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError('membership', `unknown record version ${version}`);
  }
  const membership = readMembership(input);
  input.end();
  return membership;
}

export function encodeSessionValue(session: SessionRecord): Buffer {
  const out = new ByteWriter(64 + (session.outcome?.byteLength ?? 0));
  out.u8(RECORD_VERSION).varint(session.lastSeq).varint(session.lastIndex).varint(session.lastSeenMs).bool(session.outcome !== null);
  if (session.outcome !== null) {
    out.bytes(session.outcome);
  }
  return out.finish();
}

/** Decodes a session record from its RocksDB key (with prefix) and value. */
export function decodeSessionValue(rocksKey: Buffer, value: Buffer): SessionRecord {
  const idBytes = rocksKey.subarray(1);
  const clientId = decodeClientId(idBytes);
  if (clientId === undefined) {
    throw new StorageCorruptError('session key', `invalid client id 0x${idBytes.toString('hex')}`);
  }
  const input = new ByteReader(value, corrupt('session record'));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError('session record', `unknown record version ${version}`);
  }
  const lastSeq = input.varint();
  const lastIndex = input.varint();
  const lastSeenMs = input.varint();
  const outcome = input.bool() ? input.bytes(Number.MAX_SAFE_INTEGER, 'outcome') : null;
  input.end();
  return { key: idBytes.toString('latin1'), clientId, lastSeq, lastIndex, lastSeenMs, outcome };
}
