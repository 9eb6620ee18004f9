/**
 * How the state machine lays out its data in RocksDB. One key space, split by a prefix byte so
 * one forward pass over the database meets the metadata first, then sessions, then the keys
 * and their history (the order a snapshot file needs):
 *
 *     0x01 'F'             format marker      "keyval-statemachine/2"
 *     0x01 'A'             applied state      u8 2 | varint index | varint term | varint revision | varint log time ms
 *                                             | varint compacted revision + 1
 *     0x01 'M'             membership         u8 1 | voters | learners | members
 *     0x01 'P'             compaction work    u8 1 | varint done + 1 | varint running target + 1 (0: none) | varint next
 *     0x02 <client id>     session            u8 1 | varint last seq | varint last index | varint last seen ms
 *                                             | u8 retained | [bytes outcome]
 *     0x03 <user key>      latest record      u8 1 | varint create | varint mod | varint version | value bytes
 *     0x04 <u64 BE rev>    revision chunk     u8 1 | varint r | r × (varint revision | varint n | n × (u8 type (1 put,
 *                                             2 delete) | bytes key | varint prev revision)); keyed by its last revision
 *     0x05 <esc key> 0x00 0x01 <u64 BE rev>
 *                          version            a put: the record as under 0x03 | a delete: u8 0
 *     0x06 <u64 BE lease>  lease              u8 1 | varint ttl | varint remaining ttl
 *     0x07 <u64 BE lease> <user key>          a key attached to the lease (empty value)
 *
 * A record of a key attached to a lease is `u8 2 | varint create | varint mod | varint version
 * | u64 lease | value bytes` (record version 1 has no lease).
 *
 * A put writes its key's latest record (one point lookup finds it, and apply's record cache
 * holds it) and its version; a delete removes the latest record and writes a tombstone
 * version. Versions are ordered by key and then revision: `esc` doubles every 0x00 byte of the
 * key as 0x00 0xff, and the terminator 0x00 0x01 sorts below both, so user-key order is
 * preserved and a key is never a prefix of another's versions. Revision records list each
 * revision's writes in write order (etcd's sub-revisions): watches read them to replay the
 * history, compactions to find what became unreachable. An apply batch stores its revision
 * records as one chunk (one RocksDB entry, not one per revision: it costs a put about as much
 * as the version does), keyed by the chunk's last revision so a seek to revision R lands on
 * the chunk that holds R. Chunk boundaries depend on batch sizes and so differ between
 * members; what they hold does not.
 *
 * The applied state is rewritten by every apply batch, in the same write batch as the data;
 * the compaction work record by each step of a physical compaction.
 */
import type { LogIndex, Term } from '@keyval/raft';
import type { MembershipState } from '../command-types';
import { ByteReader } from '../codec/byte-reader';
import { ByteWriter } from '../codec/byte-writer';
import { decodeClientId } from '../codec/client-id';
import type { SessionRecord } from '../engine/session-table';
import { readMembership, writeMembership } from '../engine/membership';
import { StorageCorruptError } from '../errors';
import type { RevisionRecord, RevisionWrite, VersionRecord } from '../engine/history';
import type { LeaseRecord } from '../engine/lease-table';
import type { KeyValue } from '../kv-types';

export const PREFIX_META = 0x01;
export const PREFIX_SESSION = 0x02;
export const PREFIX_KV = 0x03;
export const PREFIX_REVISION = 0x04;
export const PREFIX_VERSION = 0x05;
export const PREFIX_LEASE = 0x06;
export const PREFIX_LEASE_KEY = 0x07;

export const FORMAT_KEY = Buffer.from([PREFIX_META, 0x46]);
export const APPLIED_KEY = Buffer.from([PREFIX_META, 0x41]);
export const MEMBERSHIP_KEY = Buffer.from([PREFIX_META, 0x4d]);
export const COMPACTION_KEY = Buffer.from([PREFIX_META, 0x50]);
export const FORMAT_VALUE = Buffer.from('keyval-statemachine/2', 'utf8');
/** The format before the history: latest records only (opened by migrating it). */
export const FORMAT_1_VALUE = Buffer.from('keyval-statemachine/1', 'utf8');

const RECORD_VERSION = 1;
const APPLIED_VERSION = 2;
/** The value of a tombstone version. */
export const TOMBSTONE_VALUE = Buffer.of(0);

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

const LEASED_RECORD_VERSION = 2;

export function encodeKvValue(kv: KeyValue): Buffer {
  const lease = kv.lease ?? 0n;
  const out = new ByteWriter(kv.value.byteLength + 24);
  out.u8(lease === 0n ? RECORD_VERSION : LEASED_RECORD_VERSION).varint(kv.createRevision).varint(kv.modRevision).varint(kv.version);
  if (lease !== 0n) {
    out.u64(lease);
  }
  out.raw(kv.value);
  return out.finish();
}

/** Decodes a key-value record; `key` is the user key (without prefix). */
export function decodeKvValue(key: Uint8Array, value: Buffer): KeyValue {
  const input = new ByteReader(value, corrupt(() => `key-value record 0x${Buffer.from(key).toString('hex')}`));
  const version = input.u8();
  if (version !== RECORD_VERSION && version !== LEASED_RECORD_VERSION) {
    throw new StorageCorruptError('key-value record', `unknown record version ${version}`);
  }
  const createRevision = input.varint();
  const modRevision = input.varint();
  const keyVersion = input.varint();
  if (version === LEASED_RECORD_VERSION) {
    const lease = input.u64();
    return { key, createRevision, modRevision, version: keyVersion, value: value.subarray(input.offset), lease };
  }
  return { key, createRevision, modRevision, version: keyVersion, value: value.subarray(input.offset) };
}

/** The RocksDB key of a lease. */
export function leaseKey(id: bigint): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = PREFIX_LEASE;
  out.writeBigUInt64BE(id, 1);
  return out;
}

export function encodeLeaseValue(lease: LeaseRecord): Buffer {
  const out = new ByteWriter(16);
  out.u8(RECORD_VERSION).varint(lease.ttl).varint(lease.remainingTtl);
  return out.finish();
}

export function decodeLease(rocksKey: Buffer, value: Buffer): LeaseRecord {
  if (rocksKey.byteLength !== 9 || rocksKey[0] !== PREFIX_LEASE) {
    throw new StorageCorruptError('lease key', `0x${rocksKey.toString('hex')} is not one`);
  }
  const id = rocksKey.readBigUInt64BE(1);
  const input = new ByteReader(value, corrupt(() => `lease ${id.toString(16)}`));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError(`lease ${id.toString(16)}`, `unknown record version ${version}`);
  }
  const lease = { id, ttl: input.varint(), remainingTtl: input.varint() };
  input.end();
  return lease;
}

/** The RocksDB key of a key's attachment to a lease (`key` latin1). */
export function leaseAttachmentKey(id: bigint, key: string): Buffer {
  const out = Buffer.allocUnsafe(9 + key.length);
  out[0] = PREFIX_LEASE_KEY;
  out.writeBigUInt64BE(id, 1);
  out.write(key, 9, 'latin1');
  return out;
}

export function decodeLeaseAttachment(rocksKey: Buffer): { id: bigint; key: string } {
  if (rocksKey.byteLength < 10 || rocksKey[0] !== PREFIX_LEASE_KEY) {
    throw new StorageCorruptError('lease attachment key', `0x${rocksKey.toString('hex')} is not one`);
  }
  return { id: rocksKey.readBigUInt64BE(1), key: rocksKey.subarray(9).toString('latin1') };
}

export interface AppliedState {
  readonly appliedIndex: LogIndex;
  readonly appliedTerm: Term;
  readonly revision: number;
  readonly compactRevision: number;
  readonly logTimeMs: number;
}

export function encodeAppliedState(state: AppliedState): Buffer {
  const out = new ByteWriter(40);
  out.u8(APPLIED_VERSION).varint(state.appliedIndex).varint(state.appliedTerm).varint(state.revision).varint(state.logTimeMs).varint(state.compactRevision + 1);
  return out.finish();
}

/** Decodes the applied state; a format-1 record (no compacted revision) counts as compacted at its revision. */
export function decodeAppliedState(value: Buffer): AppliedState {
  const input = new ByteReader(value, corrupt('applied state'));
  const version = input.u8();
  if (version !== RECORD_VERSION && version !== APPLIED_VERSION) {
    throw new StorageCorruptError('applied state', `unknown record version ${version}`);
  }
  const appliedIndex = input.varint() as LogIndex;
  const appliedTerm = input.varint() as Term;
  const revision = input.varint();
  const logTimeMs = input.varint();
  const compactRevision = version === RECORD_VERSION ? revision : input.varint() - 1;
  input.end();
  return { appliedIndex, appliedTerm, revision, compactRevision, logTimeMs };
}

/** The physical compaction's progress (see RocksCompactor). */
export interface CompactionProgress {
  /** The target of the last compaction whose work is finished (-1: none). */
  readonly done: number;
  /** The target of the one under way, if any, and the next revision record it reads. */
  readonly running: { readonly target: number; readonly next: number } | undefined;
}

export function encodeCompactionProgress(progress: CompactionProgress): Buffer {
  const out = new ByteWriter(32);
  out.u8(RECORD_VERSION).varint(progress.done + 1).varint(progress.running === undefined ? 0 : progress.running.target + 1).varint(progress.running?.next ?? 0);
  return out.finish();
}

export function decodeCompactionProgress(value: Buffer): CompactionProgress {
  const input = new ByteReader(value, corrupt('compaction progress'));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError('compaction progress', `unknown record version ${version}`);
  }
  const done = input.varint() - 1;
  const target = input.varint() - 1;
  const next = input.varint();
  input.end();
  return { done, running: target < 0 ? undefined : { target, next } };
}

/** Writes a revision (a safe integer) as 8 big-endian bytes at `offset`. */
function writeRevision(out: Buffer, revision: number, offset: number): void {
  out.writeUInt32BE(Math.floor(revision / 0x1_0000_0000), offset);
  out.writeUInt32BE(revision >>> 0, offset + 4);
}

function readRevision(from: Buffer, offset: number): number {
  return from.readUInt32BE(offset) * 0x1_0000_0000 + from.readUInt32BE(offset + 4);
}

/** The RocksDB key of the revision chunk whose last revision is `revision`. */
export function revisionKey(revision: number): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = PREFIX_REVISION;
  writeRevision(out, revision, 1);
  return out;
}

/** The revision of a revision chunk's RocksDB key. */
export function revisionOfKey(rocksKey: Buffer): number {
  if (rocksKey.byteLength !== 9 || rocksKey[0] !== PREFIX_REVISION) {
    throw new StorageCorruptError('revision chunk key', `0x${rocksKey.toString('hex')} is not one`);
  }
  return readRevision(rocksKey, 1);
}

/** Every version key of `key` starts with this (escaped key and terminator). */
export function versionKeyPrefix(key: Uint8Array): Buffer {
  return writeVersionPrefix(key, 0);
}

/** The version prefix of `key` in a new buffer with `extra` bytes left after it. */
function writeVersionPrefix(key: Uint8Array, extra: number): Buffer {
  let zeros = 0;
  for (let i = 0; i < key.byteLength; i++) {
    if (key[i] === 0) {
      zeros++;
    }
  }
  const out = Buffer.allocUnsafe(1 + key.byteLength + zeros + 2 + extra);
  out[0] = PREFIX_VERSION;
  let at = 1;
  if (zeros === 0) {
    out.set(key, 1);
    at += key.byteLength;
  } else {
    for (let i = 0; i < key.byteLength; i++) {
      const byte = key[i] as number;
      out[at++] = byte;
      if (byte === 0) {
        out[at++] = 0xff;
      }
    }
  }
  out[at] = 0x00;
  out[at + 1] = 0x01;
  return out;
}

/** The RocksDB key of `key`'s version at `revision`. */
export function versionKey(key: Uint8Array, revision: number): Buffer {
  const out = writeVersionPrefix(key, 8);
  writeRevision(out, revision, out.byteLength - 8);
  return out;
}

/** The user key and revision of a version's RocksDB key. */
export function decodeVersionKey(rocksKey: Buffer): { key: Buffer; revision: number } {
  const fail = (): never => {
    throw new StorageCorruptError('version key', `0x${rocksKey.toString('hex')} is not one`);
  };
  if (rocksKey[0] !== PREFIX_VERSION || rocksKey.byteLength < 11) {
    return fail();
  }
  const end = rocksKey.byteLength - 8;
  if (rocksKey[end - 2] !== 0x00 || rocksKey[end - 1] !== 0x01) {
    return fail();
  }
  const escaped = rocksKey.subarray(1, end - 2);
  let key: Buffer = escaped;
  if (escaped.includes(0)) {
    const bytes: number[] = [];
    for (let i = 0; i < escaped.byteLength; i++) {
      const byte = escaped[i] as number;
      bytes.push(byte);
      if (byte === 0) {
        if (escaped[i + 1] !== 0xff) {
          return fail();
        }
        i++;
      }
    }
    key = Buffer.from(bytes);
  }
  return { key, revision: readRevision(rocksKey, end) };
}

/** Decodes a version from its RocksDB key and value. */
export function decodeVersion(rocksKey: Buffer, value: Buffer): VersionRecord {
  const { key, revision } = decodeVersionKey(rocksKey);
  if (value.byteLength === 1 && value[0] === 0) {
    return { key, revision, kv: null };
  }
  const kv = decodeKvValue(key, value);
  if (kv.modRevision !== revision) {
    throw new StorageCorruptError(`version of 0x${key.toString('hex')} at ${revision}`, `its record says revision ${kv.modRevision}`);
  }
  return { key, revision, kv };
}

const WRITE_PUT = 1;
const WRITE_DELETE = 2;

/** Encodes the revision records of one apply batch (ascending, at least one) as a chunk. */
export function encodeRevisionChunk(records: readonly RevisionRecord[]): Buffer {
  let size = 8;
  for (const record of records) {
    size += 12;
    for (const write of record.writes) {
      size += write.key.byteLength + 16;
    }
  }
  const out = new ByteWriter(size);
  out.u8(RECORD_VERSION).varint(records.length);
  for (const record of records) {
    out.varint(record.revision).varint(record.writes.length);
    for (const write of record.writes) {
      out.u8(write.type === 'put' ? WRITE_PUT : WRITE_DELETE).bytes(write.key).varint(write.prevRevision);
    }
  }
  return out.finish();
}

/** Decodes a revision chunk; checks its records ascend and end at the key's revision. */
export function decodeRevisionChunk(rocksKey: Buffer, value: Buffer): RevisionRecord[] {
  const last = revisionOfKey(rocksKey);
  const where = `revision chunk ${last}`;
  const input = new ByteReader(value, corrupt(where));
  const version = input.u8();
  if (version !== RECORD_VERSION) {
    throw new StorageCorruptError(where, `unknown record version ${version}`);
  }
  const count = input.varint();
  const records: RevisionRecord[] = [];
  let previous = 0;
  for (let r = 0; r < count; r++) {
    const revision = input.varint();
    const n = input.varint();
    if (revision <= previous || n === 0) {
      throw new StorageCorruptError(where, `revision ${revision} (after ${previous}) with ${n} writes`);
    }
    previous = revision;
    const writes: RevisionWrite[] = [];
    for (let i = 0; i < n; i++) {
      const type = input.u8();
      if (type !== WRITE_PUT && type !== WRITE_DELETE) {
        throw new StorageCorruptError(where, `unknown write type ${type}`);
      }
      writes.push({ type: type === WRITE_PUT ? 'put' : 'delete', key: input.bytes(Number.MAX_SAFE_INTEGER, 'key'), prevRevision: input.varint() });
    }
    records.push({ revision, writes });
  }
  input.end();
  if (previous !== last) {
    throw new StorageCorruptError(where, `its last revision is ${previous}`);
  }
  return records;
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
