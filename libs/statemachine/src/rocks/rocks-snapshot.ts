/**
 * Moving the state between a RocksDB database and snapshot files, and loading the machine's
 * state when a database opens.
 */
import type { LogIndex, Term } from '@keyval/raft';
import type { MachineState } from '../engine/apply-batch';
import { initialMachineState } from '../engine/apply-batch';
import type { SessionRecord } from '../engine/session-table';
import { EMPTY_MEMBERSHIP } from '../engine/membership';
import { StorageCorruptError } from '../errors';
import type { StateMachineLimits } from '../limits';
import type { SnapshotFileInfo } from '../snapshot/snapshot-file';
import { readSnapshotRecords, writeSnapshotFile } from '../snapshot/snapshot-file';
import type { SnapshotHeader, SnapshotRecord } from '../snapshot/snapshot-format';
import {
  APPLIED_KEY,
  FORMAT_KEY,
  FORMAT_VALUE,
  MEMBERSHIP_KEY,
  PREFIX_KV,
  PREFIX_META,
  PREFIX_SESSION,
  decodeAppliedState,
  decodeKvValue,
  decodeMembershipValue,
  decodeSessionValue,
  encodeAppliedState,
  encodeKvValue,
  encodeMembershipValue,
  encodeSessionValue,
  kvKey,
  prefixBounds,
  sessionKey,
} from './key-layout';
import type { RocksIterator, RocksWrite } from './rocks-database';
import { RocksDatabase } from './rocks-database';

/** Bytes of puts per write batch while building a database from a snapshot. */
const RESTORE_BATCH_BYTES = 4 * 1024 * 1024;

/** The writes that make a new, empty database a state machine at `state`. */
export function metadataWrites(state: MachineState): RocksWrite[] {
  return [
    { type: 'put', key: FORMAT_KEY, value: FORMAT_VALUE },
    { type: 'put', key: APPLIED_KEY, value: encodeAppliedState(state) },
    { type: 'put', key: MEMBERSHIP_KEY, value: encodeMembershipValue(state.membership) },
  ];
}

/** Loads the machine state and sessions of an open database, initializing a new one. */
export async function loadMachine(db: RocksDatabase): Promise<{ state: MachineState; sessions: SessionRecord[] }> {
  const format = await db.get(FORMAT_KEY);
  if (format === undefined) {
    const state = initialMachineState();
    await db.write(metadataWrites(state), true);
    return { state, sessions: [] };
  }
  if (!format.equals(FORMAT_VALUE)) {
    throw new StorageCorruptError(db.location, `unknown format marker ${JSON.stringify(format.toString('utf8').slice(0, 60))}`);
  }
  const applied = await db.get(APPLIED_KEY);
  const membership = await db.get(MEMBERSHIP_KEY);
  if (applied === undefined || membership === undefined) {
    throw new StorageCorruptError(db.location, 'missing applied state or membership record');
  }
  const sessions: SessionRecord[] = [];
  for await (const entry of db.iterator(prefixBounds(PREFIX_SESSION)).entries()) {
    sessions.push(decodeSessionValue(entry.key, entry.value));
  }
  return { state: { ...decodeAppliedState(applied), membership: decodeMembershipValue(membership) }, sessions };
}

/**
 * Writes a snapshot file from an iterator over the whole database (its implicit RocksDB
 * snapshot is the point in time). Ends the iterator.
 */
export async function exportSnapshot(iterator: RocksIterator, dir: string, chunkBytes: number): Promise<SnapshotFileInfo> {
  const entries = iterator.entries();
  try {
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
    const header: SnapshotHeader = {
      lastIndex: state.appliedIndex,
      lastTerm: state.appliedTerm,
      revision: state.revision,
      logTimeMs: state.logTimeMs,
      membership: decodeMembershipValue(membership),
    };
    const first = current;
    const records = async function* (): AsyncGenerator<SnapshotRecord> {
      let next = first;
      while (!next.done) {
        const { key, value } = next.value;
        if (key[0] === PREFIX_SESSION) {
          yield { type: 'session', session: decodeSessionValue(key, value) };
        } else if (key[0] === PREFIX_KV) {
          yield { type: 'kv', kv: decodeKvValue(key.subarray(1), value) };
        } else {
          throw new StorageCorruptError(dir, `unknown key prefix 0x${(key[0] as number).toString(16)}`);
        }
        next = await entries.next();
      }
    };
    return await writeSnapshotFile(dir, header, records(), chunkBytes);
  } finally {
    await entries.return(undefined);
    await iterator.end();
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
    let ops: RocksWrite[] = [];
    let bytes = 0;
    for await (const item of readSnapshotRecords(file, limits)) {
      if (item.type === 'header') {
        header = item.header;
      } else if (item.type === 'records') {
        for (const record of item.records) {
          const write: RocksWrite =
            record.type === 'kv'
              ? { type: 'put', key: kvKey(record.kv.key), value: encodeKvValue(record.kv) }
              : { type: 'put', key: sessionKey(record.session.key), value: encodeSessionValue(record.session) };
          ops.push(write);
          bytes += write.key.byteLength + write.value.byteLength;
        }
        if (bytes >= RESTORE_BATCH_BYTES) {
          await db.write(ops, false);
          ops = [];
          bytes = 0;
        }
      } else {
        const restored = header as SnapshotHeader;
        const state: MachineState = {
          appliedIndex: restored.lastIndex as LogIndex,
          appliedTerm: restored.lastTerm as Term,
          revision: restored.revision,
          logTimeMs: restored.logTimeMs,
          membership: restored.membership ?? EMPTY_MEMBERSHIP,
        };
        ops.push(...metadataWrites(state));
        await db.write(ops, true);
        ops = [];
      }
    }
    return header as SnapshotHeader;
  } finally {
    await db.close();
  }
}
