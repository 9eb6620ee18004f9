/**
 * The history of the key space (etcd's MVCC): every version of every key, kept until a
 * compaction makes it unreachable. Three views of the same facts, shared by both
 * implementations:
 *
 *     KeyEvent        one change to one key (what apply produces, what watchers receive)
 *     VersionRecord   a key at one revision: its record, or a tombstone   (key order)
 *     RevisionRecord  the keys one revision changed, in write order        (revision order)
 *
 * A version is reachable by a read at revision r when it is the key's last version at or
 * below r. Compacting at C keeps, for each key, its last version at or below C unless that is
 * a tombstone below C, and every version above C; a revision record is kept from C on
 * (nothing reads the history below C: ranges and watches there fail as compacted).
 */
import { invariant } from '../errors';
import type { KeyValue } from '../kv-types';
import { keyString } from './key-span';

/** One change to one key. */
export interface KeyEvent {
  readonly type: 'put' | 'delete';
  /**
   * put: the key's new record. delete: the key with `modRevision` = the revision of the
   * delete and create revision, version and value empty (as etcd reports a delete event).
   */
  readonly kv: KeyValue;
  /** The key's record before the change, undefined when it did not exist. */
  readonly prev: KeyValue | undefined;
}

/** A key at one revision: its record, or null for a deletion (tombstone). */
export interface VersionRecord {
  readonly key: Uint8Array;
  readonly revision: number;
  readonly kv: KeyValue | null;
}

/** One write of a revision, enough to find its version and the version it replaced. */
export interface RevisionWrite {
  readonly type: 'put' | 'delete';
  readonly key: Uint8Array;
  /** Revision of the key's version this write replaced; 0 when the key did not exist. */
  readonly prevRevision: number;
}

/** The writes of one revision, in the order the command made them (etcd's sub-revisions). */
export interface RevisionRecord {
  readonly revision: number;
  readonly writes: readonly RevisionWrite[];
}

/** The event of a delete of `key` at `revision`. */
export function deleteEvent(key: Uint8Array, revision: number, prev: KeyValue | undefined): KeyEvent {
  return { type: 'delete', kv: { key, createRevision: 0, modRevision: revision, version: 0, value: EMPTY }, prev };
}

const EMPTY = new Uint8Array(0);

/** The revision records of events in apply order (each revision's writes together). */
export function revisionRecords(events: readonly KeyEvent[]): RevisionRecord[] {
  const records: RevisionRecord[] = [];
  let current: { revision: number; writes: RevisionWrite[] } | undefined;
  for (const event of events) {
    const revision = event.kv.modRevision;
    if (current === undefined || current.revision !== revision) {
      invariant(current === undefined || revision > current.revision, () => `event revision ${revision} after ${current?.revision}`);
      current = { revision, writes: [] };
      records.push(current);
    }
    current.writes.push({ type: event.type, key: event.kv.key, prevRevision: event.prev?.modRevision ?? 0 });
  }
  return records;
}

/** The version an event creates. */
export function versionOf(event: KeyEvent): VersionRecord {
  return { key: event.kv.key, revision: event.kv.modRevision, kv: event.type === 'put' ? event.kv : null };
}

/**
 * From versions in key order (each key's ascending by revision), the record of every key that
 * exists at `revision` (its last version at or below it is not a tombstone), in key order.
 */
export async function* liveAt(versions: AsyncIterable<VersionRecord>, revision: number): AsyncGenerator<KeyValue> {
  let key: string | undefined;
  let last: KeyValue | null = null;
  for await (const version of versions) {
    const name = keyString(version.key);
    if (name !== key) {
      if (last !== null) {
        yield last;
      }
      key = name;
      last = null;
    }
    if (version.revision <= revision) {
      last = version.kv;
    }
  }
  if (last !== null) {
    yield last;
  }
}

/**
 * From versions in key order, the ones a compaction at `compactRevision` keeps (see the module
 * comment): what a snapshot and a hash contain, whatever the physical compaction has removed
 * yet. `atMost` also drops versions above that revision (a hash at a revision).
 */
export async function* retainedVersions(versions: AsyncIterable<VersionRecord>, compactRevision: number, atMost = Infinity): AsyncGenerator<VersionRecord> {
  let key: string | undefined;
  let floor: VersionRecord | undefined;
  for await (const version of versions) {
    if (version.revision > atMost) {
      continue;
    }
    const name = keyString(version.key);
    if (name !== key) {
      if (floor !== undefined && keepsFloor(floor, compactRevision)) {
        yield floor;
      }
      key = name;
      floor = undefined;
    }
    if (version.revision <= compactRevision) {
      floor = version;
      continue;
    }
    if (floor !== undefined) {
      if (keepsFloor(floor, compactRevision)) {
        yield floor;
      }
      floor = undefined;
    }
    yield version;
  }
  if (floor !== undefined && keepsFloor(floor, compactRevision)) {
    yield floor;
  }
}

/** Whether a key's last version at or below the compacted revision survives compaction. */
function keepsFloor(version: VersionRecord, compactRevision: number): boolean {
  return version.kv !== null || version.revision >= compactRevision;
}

/** What one step of a physical compaction deletes. */
export interface CompactionDeletes {
  /** Versions no read at or above the compacted revision can reach. */
  readonly versions: Array<{ readonly key: Uint8Array; readonly revision: number }>;
  /** Revisions below the compacted revision: their records are no longer needed. */
  readonly revisions: number[];
}

/**
 * The deletions a compaction at `target` makes for `records`, a consecutive run of revision
 * records starting at or after the previous compaction's revision and ending at or before
 * `target`. Each write makes the version it replaced unreachable (that version is at or below
 * `target`); a delete below `target` leaves a tombstone nothing reads. Idempotent, and
 * independent of other runs, so the work can be split into steps and resumed after a crash.
 */
export function compactionDeletes(records: readonly RevisionRecord[], target: number): CompactionDeletes {
  const deletes: CompactionDeletes = { versions: [], revisions: [] };
  for (const record of records) {
    invariant(record.revision <= target, () => `revision ${record.revision} beyond the compaction target ${target}`);
    for (const write of record.writes) {
      if (write.prevRevision > 0) {
        deletes.versions.push({ key: write.key, revision: write.prevRevision });
      }
      if (write.type === 'delete' && record.revision < target) {
        deletes.versions.push({ key: write.key, revision: record.revision });
      }
    }
    if (record.revision < target) {
      deletes.revisions.push(record.revision);
    }
  }
  return deletes;
}
