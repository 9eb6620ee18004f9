/**
 * Moving the state between a RocksDB database and snapshot files, and loading the machine's
 * state when a database opens (migrating a format-1 database, which kept no history).
 */
import type { LogIndex, Term } from '@keyval/raft';
import type { MachineState } from '../engine/apply-batch';
import { initialMachineState } from '../engine/apply-batch';
import type { RevisionWrite, VersionRecord } from '../engine/history';
import { retainedVersions } from '../engine/history';
import type { SessionRecord } from '../engine/session-table';
import type { LeaseRecord } from '../engine/lease-table';
import { EMPTY_MEMBERSHIP } from '../engine/membership';
import { StorageCorruptError } from '../errors';
import type { StateMachineLimits } from '../limits';
import type { SnapshotFileInfo } from '../snapshot/snapshot-file';
import { readSnapshotRecords, writeSnapshotFile } from '../snapshot/snapshot-file';
import type { SnapshotHeader, SnapshotRecord } from '../snapshot/snapshot-format';
import type { ImportedItem } from '../snapshot/snapshot-import';
import { SnapshotImporter } from '../snapshot/snapshot-import';
import { hashRecords } from '../snapshot/state-hash';
import type { StoreHash } from '../snapshot/state-hash';
import { assertNever } from '../util/assert-never';
import type { CompactionProgress } from './key-layout';
import {
  APPLIED_KEY,
  COMPACTION_KEY,
  FORMAT_1_VALUE,
  FORMAT_KEY,
  FORMAT_VALUE,
  MEMBERSHIP_KEY,
  PREFIX_KV,
  PREFIX_LEASE,
  PREFIX_LEASE_KEY,
  PREFIX_META,
  PREFIX_REVISION,
  PREFIX_SESSION,
  PREFIX_VERSION,
  decodeAppliedState,
  decodeCompactionProgress,
  decodeKvValue,
  decodeLease,
  decodeLeaseAttachment,
  decodeMembershipValue,
  decodeRevisionChunk,
  decodeSessionValue,
  decodeVersion,
  encodeAppliedState,
  encodeCompactionProgress,
  encodeKvValue,
  encodeLeaseValue,
  encodeMembershipValue,
  encodeRevisionChunk,
  encodeSessionValue,
  kvKey,
  leaseAttachmentKey,
  leaseKey,
  prefixBounds,
  revisionKey,
  sessionKey,
  TOMBSTONE_VALUE,
  versionKey,
} from './key-layout';
import type { RocksEntry, RocksIterator, RocksWrite } from './rocks-database';
import { RocksDatabase } from './rocks-database';

/** Bytes of puts per write batch while building a database from a snapshot (or migrating). */
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

/** The writes that make a new, empty database a state machine at `state`. */
export function metadataWrites(state: MachineState, progress: CompactionProgress): RocksWrite[] {
  return [
    { type: 'put', key: FORMAT_KEY, value: FORMAT_VALUE },
    { type: 'put', key: APPLIED_KEY, value: encodeAppliedState(state) },
    { type: 'put', key: MEMBERSHIP_KEY, value: encodeMembershipValue(state.membership) },
    { type: 'put', key: COMPACTION_KEY, value: encodeCompactionProgress(progress) },
  ];
}

const NO_COMPACTION: CompactionProgress = { done: -1, running: undefined };

export interface LoadedMachine {
  readonly state: MachineState;
  readonly sessions: SessionRecord[];
  readonly compaction: CompactionProgress;
  readonly leases: LeaseRecord[];
  readonly attachments: Array<{ id: bigint; key: string }>;
}

/** Loads the machine state and sessions of an open database, initializing a new one. */
export async function loadMachine(db: RocksDatabase): Promise<LoadedMachine> {
  const format = await db.get(FORMAT_KEY);
  if (format === undefined) {
    const state = initialMachineState();
    await db.write(metadataWrites(state, NO_COMPACTION), true);
    return { state, sessions: [], compaction: NO_COMPACTION, leases: [], attachments: [] };
  }
  if (format.equals(FORMAT_1_VALUE)) {
    await migrateFormat1(db);
  } else if (!format.equals(FORMAT_VALUE)) {
    throw new StorageCorruptError(db.location, `unknown format marker ${JSON.stringify(format.toString('utf8').slice(0, 60))}`);
  }
  const applied = await db.get(APPLIED_KEY);
  const membership = await db.get(MEMBERSHIP_KEY);
  const compaction = await db.get(COMPACTION_KEY);
  if (applied === undefined || membership === undefined || compaction === undefined) {
    throw new StorageCorruptError(db.location, 'missing applied state, membership or compaction record');
  }
  const sessions: SessionRecord[] = [];
  for await (const entry of db.iterator(prefixBounds(PREFIX_SESSION)).entries()) {
    sessions.push(decodeSessionValue(entry.key, entry.value));
  }
  const leases: LeaseRecord[] = [];
  for await (const entry of db.iterator(prefixBounds(PREFIX_LEASE)).entries()) {
    leases.push(decodeLease(entry.key, entry.value));
  }
  const attachments: Array<{ id: bigint; key: string }> = [];
  for await (const entry of db.iterator({ ...prefixBounds(PREFIX_LEASE_KEY), values: false }).entries()) {
    attachments.push(decodeLeaseAttachment(entry.key));
  }
  return {
    state: { ...decodeAppliedState(applied), membership: decodeMembershipValue(membership) },
    sessions,
    compaction: decodeCompactionProgress(compaction),
    leases,
    attachments,
  };
}

/**
 * A format-1 database kept each key's latest record only. It becomes a store compacted at its
 * revision: each record is its key's one version, and the revision record of that revision
 * lists the keys it last wrote. Idempotent; the format marker is written last, so a crash
 * meanwhile migrates again on the next open.
 */
async function migrateFormat1(db: RocksDatabase): Promise<void> {
  const appliedValue = await db.get(APPLIED_KEY);
  if (appliedValue === undefined) {
    throw new StorageCorruptError(db.location, 'missing applied state');
  }
  const applied = decodeAppliedState(appliedValue);
  const lastWrites: RevisionWrite[] = [];
  let ops: RocksWrite[] = [];
  let bytes = 0;
  for await (const entry of db.iterator(prefixBounds(PREFIX_KV)).entries()) {
    const kv = decodeKvValue(entry.key.subarray(1), entry.value);
    ops.push({ type: 'put', key: versionKey(kv.key, kv.modRevision), value: entry.value });
    bytes += entry.key.byteLength + entry.value.byteLength;
    if (kv.modRevision === applied.revision) {
      lastWrites.push({ type: 'put', key: Buffer.from(kv.key), prevRevision: 0 });
    }
    if (bytes >= RESTORE_BATCH_BYTES) {
      await db.write(ops, false);
      ops = [];
      bytes = 0;
    }
  }
  if (lastWrites.length > 0) {
    ops.push({ type: 'put', key: revisionKey(applied.revision), value: encodeRevisionChunk([{ revision: applied.revision, writes: lastWrites }]) });
  }
  ops.push(
    { type: 'put', key: APPLIED_KEY, value: encodeAppliedState({ ...applied, compactRevision: applied.revision }) },
    { type: 'put', key: COMPACTION_KEY, value: encodeCompactionProgress({ done: applied.revision, running: undefined }) },
    { type: 'put', key: FORMAT_KEY, value: FORMAT_VALUE },
  );
  await db.write(ops, true);
}

/** Snapshot records from an iterator over the whole database (in key order). */
async function* exportRecords(entries: AsyncIterator<RocksEntry>, first: IteratorResult<RocksEntry>, compactRevision: number, dir: string): AsyncGenerator<SnapshotRecord> {
  let next = first;
  const versions = async function* (): AsyncGenerator<VersionRecord> {
    while (!next.done && next.value.key[0] === PREFIX_VERSION) {
      yield decodeVersion(next.value.key, next.value.value);
      next = await entries.next();
    }
  };
  while (!next.done && (next.value.key[0] as number) < PREFIX_VERSION) {
    const { key, value } = next.value;
    if (key[0] === PREFIX_SESSION) {
      yield { type: 'session', session: decodeSessionValue(key, value) };
    } else if (key[0] === PREFIX_REVISION) {
      for (const record of decodeRevisionChunk(key, value)) {
        // Below the compacted revision nothing reads it; the physical compaction may lag.
        if (record.revision >= compactRevision) {
          yield { type: 'revision', record };
        }
      }
    } else if (key[0] !== PREFIX_KV) {
      // Latest records are not exported: a key's latest record is its last version.
      throw new StorageCorruptError(dir, `unknown key prefix 0x${(key[0] as number).toString(16)}`);
    }
    next = await entries.next();
  }
  for await (const version of retainedVersions(versions(), compactRevision)) {
    yield { type: 'version', version };
  }
  while (!next.done) {
    const { key, value } = next.value;
    if (key[0] === PREFIX_LEASE) {
      yield { type: 'lease', lease: decodeLease(key, value) };
    } else if (key[0] !== PREFIX_LEASE_KEY) {
      // Attachments are not exported: a key's latest record names its lease.
      throw new StorageCorruptError(dir, `unknown key prefix 0x${(key[0] as number).toString(16)}`);
    }
    next = await entries.next();
  }
}

/**
 * Writes a snapshot file from an iterator over the whole database (its implicit RocksDB
 * snapshot is the point in time). Exports the history as the compacted revision defines it,
 * whatever the physical compaction has deleted yet. Ends the iterator.
 */
export async function exportSnapshot(iterator: RocksIterator, dir: string, chunkBytes: number): Promise<SnapshotFileInfo> {
  const entries = iterator.entries();
  try {
    const { header, next } = await readExportHeader(entries, dir);
    return await writeSnapshotFile(dir, header, exportRecords(entries, next, header.compactRevision, dir), chunkBytes);
  } finally {
    await entries.return(undefined);
    await iterator.end();
  }
}

/**
 * etcd's Hash of the whole replicated state, from an iterator over the whole database: the
 * records a snapshot at this point in time would hold (so equal states hash equal whatever
 * their physical compaction progress). Ends the iterator.
 */
export async function hashDatabase(iterator: RocksIterator, dir: string): Promise<StoreHash> {
  const entries = iterator.entries();
  try {
    const { header, next } = await readExportHeader(entries, dir);
    const hash = await hashRecords(header, exportRecords(entries, next, header.compactRevision, dir));
    return { hash, revision: header.revision };
  } finally {
    await entries.return(undefined);
    await iterator.end();
  }
}

/** The snapshot header of a whole-database iterator (its metadata keys come first) and the first entry after them. */
async function readExportHeader(entries: AsyncIterator<RocksEntry>, dir: string): Promise<{ header: Omit<SnapshotHeader, 'format'>; next: IteratorResult<RocksEntry> }> {
  const meta = new Map<number, Buffer>();
  let current = await entries.next();
  while (!current.done && current.value.key[0] === PREFIX_META) {
    meta.set(current.value.key[1] as number, current.value.value);
    current = await entries.next();
  }
  const applied = meta.get(APPLIED_KEY[1] as number);
  const membership = meta.get(MEMBERSHIP_KEY[1] as number);
  if (applied === undefined || membership === undefined) {
    throw new StorageCorruptError(dir, 'snapshot export found no applied state or membership record');
  }
  const state = decodeAppliedState(applied);
  const header: Omit<SnapshotHeader, 'format'> = {
    lastIndex: state.appliedIndex,
    lastTerm: state.appliedTerm,
    revision: state.revision,
    compactRevision: state.compactRevision,
    logTimeMs: state.logTimeMs,
    membership: decodeMembershipValue(membership),
  };
  return { header, next: current };
}

/** The RocksDB writes of one restored item. */
function importWrites(item: ImportedItem): RocksWrite[] {
  switch (item.type) {
    case 'latest': {
      const lease = item.kv.lease ?? 0n;
      const latest: RocksWrite = { type: 'put', key: kvKey(item.kv.key), value: encodeKvValue(item.kv) };
      return lease === 0n ? [latest] : [latest, { type: 'put', key: leaseAttachmentKey(lease, Buffer.from(item.kv.key).toString('latin1')), value: EMPTY }];
    }
    default:
      return [importWrite(item)];
  }
}

const EMPTY = Buffer.alloc(0);

function importWrite(item: Exclude<ImportedItem, { type: 'latest' }>): RocksWrite {
  switch (item.type) {
    case 'session':
      return { type: 'put', key: sessionKey(item.session.key), value: encodeSessionValue(item.session) };
    case 'lease':
      return { type: 'put', key: leaseKey(item.lease.id), value: encodeLeaseValue(item.lease) };
    case 'version':
      return { type: 'put', key: versionKey(item.version.key, item.version.revision), value: item.version.kv === null ? TOMBSTONE_VALUE : encodeKvValue(item.version.kv) };
    case 'revision':
      return { type: 'put', key: revisionKey(item.record.revision), value: encodeRevisionChunk([item.record]) };
    default:
      return assertNever(item);
  }
}

/**
 * Creates a new database at `location` holding a snapshot file's state. Verifies the whole
 * file as it goes; the metadata that makes the database valid is written (and synced) only
 * after the end frame verified. Throws SnapshotCorruptError/SnapshotTruncatedError, leaving a
 * partial database for the caller to delete.
 */
export async function buildDatabase(file: string, location: string, limits: StateMachineLimits): Promise<SnapshotHeader> {
  const db = await RocksDatabase.open(location, { createIfMissing: true, errorIfExists: true });
  try {
    let header: SnapshotHeader | undefined;
    let importer: SnapshotImporter | undefined;
    let ops: RocksWrite[] = [];
    let bytes = 0;
    const add = (items: readonly ImportedItem[]): void => {
      for (const item of items) {
        for (const write of importWrites(item)) {
          ops.push(write);
          bytes += write.key.byteLength + (write.type === 'put' ? write.value.byteLength : 0);
        }
      }
    };
    for await (const item of readSnapshotRecords(file, limits)) {
      if (item.type === 'header') {
        header = item.header;
        importer = new SnapshotImporter(item.header);
      } else if (item.type === 'records') {
        add((importer as SnapshotImporter).items(item.records));
        if (bytes >= RESTORE_BATCH_BYTES) {
          await db.write(ops, false);
          ops = [];
          bytes = 0;
        }
      } else {
        add((importer as SnapshotImporter).finish());
        const restored = header as SnapshotHeader;
        const state: MachineState = {
          appliedIndex: restored.lastIndex as LogIndex,
          appliedTerm: restored.lastTerm as Term,
          revision: restored.revision,
          compactRevision: restored.compactRevision,
          logTimeMs: restored.logTimeMs,
          membership: restored.membership ?? EMPTY_MEMBERSHIP,
        };
        // The file holds the history as compacted: there is no compaction work left.
        ops.push(...metadataWrites(state, { done: restored.compactRevision, running: undefined }));
        await db.write(ops, true);
        ops = [];
      }
    }
    return header as SnapshotHeader;
  } finally {
    await db.close();
  }
}
