/**
 * The snapshot file format (version 2; version 1 is still read). Little-endian; every frame
 * carries a CRC32C; the end frame carries a CRC32C of the whole file before it.
 *
 *     header frame: "KVSNAP\r\n" | u16 format version | u32 body length | body | u32 crc32c(all before)
 *        body:      varint last index | varint last term | varint store revision | varint log time ms
 *                   | [v2: varint compacted revision + 1] | membership (voters, learners, members)
 *     chunk frame:  u8 'C' | u32 chunk index (0, 1, ...) | u32 record count | u32 payload length
 *                   | payload (records) | u32 crc32c(frame before this field)
 *     end frame:    u8 'E' | u32 chunk count | u64 record count | u32 crc32c(whole file before this field)
 *
 *     record:       u8 1 (session)  | bytes client id | varint last seq | varint last index
 *                   | varint last seen ms | u8 retained | [bytes outcome]
 *                   u8 3 (revision) | varint revision | varint n | n × (u8 type (1 put, 2 delete) | bytes key
 *                   | varint prev revision)
 *                   u8 4 (version)  | bytes key | varint revision | u8 (0 tombstone, 1 put, 2 put with a lease)
 *                   | [put: varint create | varint version | [u64 lease] | bytes value]
 *                   u8 5 (lease)    | u64 id | varint ttl | varint remaining ttl
 *                   u8 2 (kv, version 1 only) | bytes key | varint create | varint mod | varint version | bytes value
 *
 * Records are logical (not RocksDB keys), so any implementation can read any other's snapshot.
 * Sessions come first, ordered by client id bytes; then (version 2) the revision records by
 * revision, the versions by key and revision, and the leases by id: the history as a compaction at the header's
 * compacted revision leaves it (each key's latest version is its last one). A version 1 file
 * holds each key's latest record instead (no history): it restores as a store compacted at
 * its revision.
 */
import { crc32c } from '@node-rs/crc32';
import type { LogIndex, Term } from '@keyval/raft';
import type { MembershipState } from '../command-types';
import { ByteReader } from '../codec/byte-reader';
import type { DecodeErrorFactory } from '../codec/byte-reader';
import { ByteWriter } from '../codec/byte-writer';
import { decodeClientId, encodeClientId } from '../codec/client-id';
import { readKeyValue, writeKeyValue } from '../codec/outcome-codec';
import type { RevisionRecord, RevisionWrite, VersionRecord } from '../engine/history';
import type { LeaseRecord } from '../engine/lease-table';
import type { SessionRecord } from '../engine/session-table';
import { readMembership, writeMembership } from '../engine/membership';
import type { KeyValue } from '../kv-types';
import { assertNever } from '../util/assert-never';

export const SNAPSHOT_MAGIC = Buffer.from('KVSNAP\r\n', 'latin1');
export const SNAPSHOT_FORMAT_VERSION = 2;
/** Formats this code reads. */
export const SNAPSHOT_FORMATS_READ: readonly number[] = [1, 2];
/** Bytes before a header body: magic, version, body length. */
export const HEADER_PREFIX_BYTES = 8 + 2 + 4;
/** Bytes of a chunk frame before its payload: type, index, record count, payload length. */
export const CHUNK_PREFIX_BYTES = 1 + 4 + 4 + 4;
/** Bytes of the end frame, checksum included. */
export const END_FRAME_BYTES = 1 + 4 + 8 + 4;
export const FRAME_CHUNK = 0x43; // 'C'
export const FRAME_END = 0x45; // 'E'

const RECORD_SESSION = 1;
const RECORD_KV = 2;
const RECORD_REVISION = 3;
const RECORD_VERSION = 4;
const RECORD_LEASE = 5;
const VERSION_TOMBSTONE = 0;
const VERSION_PUT = 1;
const VERSION_LEASED_PUT = 2;
const WRITE_PUT = 1;
const WRITE_DELETE = 2;

/** What a snapshot covers: the state machine as of `lastIndex`. */
export interface SnapshotHeader {
  /** The file's format (what it was written as); files are always written in the newest. */
  readonly format: number;
  readonly lastIndex: LogIndex;
  readonly lastTerm: Term;
  readonly revision: number;
  /** The compacted revision (-1: never compacted); a version 1 file counts as compacted at its revision. */
  readonly compactRevision: number;
  readonly logTimeMs: number;
  readonly membership: MembershipState;
}

export type SnapshotRecord =
  | { readonly type: 'session'; readonly session: SessionRecord }
  | { readonly type: 'revision'; readonly record: RevisionRecord }
  | { readonly type: 'version'; readonly version: VersionRecord }
  | { readonly type: 'lease'; readonly lease: LeaseRecord }
  /** Version 1 files only: a key's latest record. */
  | { readonly type: 'kv'; readonly kv: KeyValue };

export function encodeHeaderFrame(header: Omit<SnapshotHeader, 'format'>): Uint8Array {
  const body = new ByteWriter(256);
  body.varint(header.lastIndex).varint(header.lastTerm).varint(header.revision).varint(header.logTimeMs).varint(header.compactRevision + 1);
  writeMembership(body, header.membership);
  const bodyBytes = body.finish();
  const out = new ByteWriter(HEADER_PREFIX_BYTES + bodyBytes.byteLength + 4);
  out.raw(SNAPSHOT_MAGIC).u16(SNAPSHOT_FORMAT_VERSION).u32(bodyBytes.byteLength).raw(bodyBytes);
  return withCrc(out);
}

export function decodeHeaderBody(body: Uint8Array, format: number, fail: DecodeErrorFactory): SnapshotHeader {
  const input = new ByteReader(body, fail);
  const lastIndex = input.varint() as LogIndex;
  const lastTerm = input.varint() as Term;
  const revision = input.varint();
  const logTimeMs = input.varint();
  const compactRevision = format === 1 ? revision : input.varint() - 1;
  if (compactRevision > revision) {
    throw fail(`compacted revision ${compactRevision} is beyond the revision ${revision}`, input.offset);
  }
  const membership = readMembership(input);
  input.end();
  return { format, lastIndex, lastTerm, revision, compactRevision, logTimeMs, membership };
}

/** Appends one record to a chunk payload. */
export function writeRecord(out: ByteWriter, record: SnapshotRecord): void {
  switch (record.type) {
    case 'session': {
      const s = record.session;
      out.u8(RECORD_SESSION).bytes(encodeClientId(s.clientId)).varint(s.lastSeq).varint(s.lastIndex).varint(s.lastSeenMs);
      out.bool(s.outcome !== null);
      if (s.outcome !== null) {
        out.bytes(s.outcome);
      }
      break;
    }
    case 'revision':
      out.u8(RECORD_REVISION).varint(record.record.revision).varint(record.record.writes.length);
      for (const write of record.record.writes) {
        out.u8(write.type === 'put' ? WRITE_PUT : WRITE_DELETE).bytes(write.key).varint(write.prevRevision);
      }
      break;
    case 'version': {
      const { key, revision, kv } = record.version;
      const lease = kv?.lease ?? 0n;
      out.u8(RECORD_VERSION).bytes(key).varint(revision).u8(kv === null ? VERSION_TOMBSTONE : lease === 0n ? VERSION_PUT : VERSION_LEASED_PUT);
      if (kv !== null) {
        out.varint(kv.createRevision).varint(kv.version);
        if (lease !== 0n) {
          out.u64(lease);
        }
        out.bytes(kv.value);
      }
      break;
    }
    case 'lease':
      out.u8(RECORD_LEASE).u64(record.lease.id).varint(record.lease.ttl).varint(record.lease.remainingTtl);
      break;
    case 'kv':
      out.u8(RECORD_KV);
      writeKeyValue(out, record.kv);
      break;
    default:
      assertNever(record);
  }
}

/** Decodes a chunk payload holding exactly `count` records. */
export function decodeRecords(payload: Uint8Array, count: number, fail: DecodeErrorFactory): SnapshotRecord[] {
  const input = new ByteReader(payload, fail);
  const records: SnapshotRecord[] = [];
  for (let i = 0; i < count; i++) {
    const kind = input.u8();
    if (kind === RECORD_KV) {
      records.push({ type: 'kv', kv: readKeyValue(input) });
    } else if (kind === RECORD_REVISION) {
      records.push({ type: 'revision', record: readRevisionRecord(input, fail) });
    } else if (kind === RECORD_VERSION) {
      records.push({ type: 'version', version: readVersionRecord(input, fail) });
    } else if (kind === RECORD_LEASE) {
      records.push({ type: 'lease', lease: { id: input.u64(), ttl: input.varint(), remainingTtl: input.varint() } });
    } else if (kind === RECORD_SESSION) {
      const idBytes = input.bytes(1024, 'client id');
      const clientId = decodeClientId(idBytes);
      if (clientId === undefined) {
        throw fail('invalid client id', input.offset);
      }
      const lastSeq = input.varint();
      const lastIndex = input.varint();
      const lastSeenMs = input.varint();
      const outcome = input.bool() ? input.bytes(Number.MAX_SAFE_INTEGER, 'outcome') : null;
      const key = Buffer.from(idBytes).toString('latin1');
      records.push({ type: 'session', session: { key, clientId, lastSeq, lastIndex, lastSeenMs, outcome } });
    } else {
      throw fail(`unknown record kind ${kind}`, input.offset - 1);
    }
  }
  input.end();
  return records;
}

function readRevisionRecord(input: ByteReader, fail: DecodeErrorFactory): RevisionRecord {
  const revision = input.varint();
  const count = input.varint();
  if (count === 0 || count > input.remaining) {
    throw fail(`revision ${revision} has ${count} writes`, input.offset);
  }
  const writes: RevisionWrite[] = [];
  for (let i = 0; i < count; i++) {
    const type = input.u8();
    if (type !== WRITE_PUT && type !== WRITE_DELETE) {
      throw fail(`unknown write type ${type}`, input.offset - 1);
    }
    const key = input.bytes(MAX_FIELD_BYTES, 'key');
    const prevRevision = input.varint();
    if (prevRevision >= revision) {
      throw fail(`write of revision ${revision} replaces revision ${prevRevision}`, input.offset);
    }
    writes.push({ type: type === WRITE_PUT ? 'put' : 'delete', key, prevRevision });
  }
  return { revision, writes };
}

function readVersionRecord(input: ByteReader, fail: DecodeErrorFactory): VersionRecord {
  const key = input.bytes(MAX_FIELD_BYTES, 'key');
  const revision = input.varint();
  const kind = input.u8();
  if (kind === VERSION_TOMBSTONE) {
    return { key, revision, kv: null };
  }
  if (kind !== VERSION_PUT && kind !== VERSION_LEASED_PUT) {
    throw fail(`unknown version kind ${kind}`, input.offset - 1);
  }
  const createRevision = input.varint();
  const version = input.varint();
  const lease = kind === VERSION_LEASED_PUT ? input.u64() : 0n;
  const value = input.bytes(MAX_FIELD_BYTES, 'value');
  const kv = { key, createRevision, modRevision: revision, version, value };
  return { key, revision, kv: lease === 0n ? kv : { ...kv, lease } };
}

const MAX_FIELD_BYTES = Number.MAX_SAFE_INTEGER;

export function encodeChunkFrame(index: number, recordCount: number, payload: Uint8Array): Uint8Array {
  const out = new ByteWriter(CHUNK_PREFIX_BYTES + payload.byteLength + 4);
  out.u8(FRAME_CHUNK).u32(index).u32(recordCount).u32(payload.byteLength).raw(payload);
  return withCrc(out);
}

/** The end frame; `fileCrc` is the CRC32C of every byte of the file before this frame. */
export function encodeEndFrame(chunkCount: number, recordCount: number, fileCrc: number): Uint8Array {
  const out = new ByteWriter(END_FRAME_BYTES);
  out.u8(FRAME_END).u32(chunkCount).u64(BigInt(recordCount));
  const body = out.finish();
  return Buffer.concat([body, u32le(crc32c(body, fileCrc))]);
}

function withCrc(out: ByteWriter): Uint8Array {
  const body = out.finish();
  return Buffer.concat([body, u32le(crc32c(body))]);
}

function u32le(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32LE(value >>> 0, 0);
  return out;
}

/** `snapshot-<index>-<term>.snap`, zero-padded so names sort by index. */
export function snapshotFileName(lastIndex: number, lastTerm: number): string {
  return `snapshot-${String(lastIndex).padStart(20, '0')}-${String(lastTerm).padStart(20, '0')}.snap`;
}

const FILE_NAME = /^snapshot-(\d{20})-(\d{20})\.snap$/;

/** Index and term from a snapshot file name, or undefined for other names. */
export function parseSnapshotFileName(name: string): { lastIndex: number; lastTerm: number } | undefined {
  const match = FILE_NAME.exec(name);
  return match === null ? undefined : { lastIndex: Number(match[1]), lastTerm: Number(match[2]) };
}
