/**
 * The history of MemoryStateMachine: every version of every key (by key, ascending revision)
 * and the revision records, trimmed by compaction at once (the RocksDB machine does it in
 * steps; see engine/history.ts for what is kept). Reads capture their result synchronously.
 */
import type { CompactionDeletes, KeyEvent, RevisionRecord, VersionRecord } from '../engine/history';
import { compactionDeletes, revisionRecords, versionOf } from '../engine/history';
import type { ScanRange } from '../engine/key-span';
import { keyString } from '../engine/key-span';
import type { KvSource, ScanMode } from '../engine/kv-source';
import { shapeRecord } from '../engine/kv-source';
import { invariant } from '../errors';
import type { KeyValue } from '../kv-types';
import { SortedKeys } from './sorted-keys';

export class MemoryHistory {
  /** Each key's versions, ascending by revision. */
  private readonly versions = new Map<string, VersionRecord[]>();
  /** Every key of `versions`. */
  private readonly keys = new SortedKeys();
  /** Revision records, ascending (Map iteration is insertion order). */
  private readonly revisions = new Map<number, RevisionRecord>();
  /** Revision the last compaction trimmed to; history below it is gone. */
  private compactedTo = -1;

  /** Records a committed batch's events (in apply order). */
  commit(events: readonly KeyEvent[]): void {
    for (const event of events) {
      const version = versionOf(event);
      const name = keyString(version.key);
      let list = this.versions.get(name);
      if (list === undefined) {
        list = [];
        this.versions.set(name, list);
        this.keys.add(name);
      }
      const last = list[list.length - 1];
      invariant(last === undefined || last.revision <= version.revision, 'a version older than the key history');
      if (last !== undefined && last.revision === version.revision) {
        list[list.length - 1] = version;
      } else {
        list.push(version);
      }
    }
    for (const record of revisionRecords(events)) {
      this.revisions.set(record.revision, record);
    }
  }

  /** Restores one version (snapshot order: by key, then revision). */
  restoreVersion(version: VersionRecord): void {
    const name = keyString(version.key);
    let list = this.versions.get(name);
    if (list === undefined) {
      list = [];
      this.versions.set(name, list);
      this.keys.add(name);
    }
    list.push(version);
  }

  /** Restores one revision record (ascending). */
  restoreRevision(record: RevisionRecord): void {
    this.revisions.set(record.revision, record);
  }

  /** Marks the history as trimmed to `revision` (a restored snapshot is). */
  restoredCompaction(revision: number): void {
    this.compactedTo = revision;
  }

  /** Trims the history for a compaction at `target` (see compactionDeletes). */
  compact(target: number): void {
    if (target <= this.compactedTo) {
      return;
    }
    const records = [...this.revisions.values()].filter((r) => r.revision >= this.compactedTo && r.revision <= target);
    this.remove(compactionDeletes(records, target));
    this.compactedTo = target;
  }

  private remove(deletes: CompactionDeletes): void {
    for (const { key, revision } of deletes.versions) {
      const name = keyString(key);
      const list = this.versions.get(name);
      if (list === undefined) {
        continue;
      }
      const at = list.findIndex((v) => v.revision === revision);
      if (at >= 0) {
        list.splice(at, 1);
      }
      if (list.length === 0) {
        this.versions.delete(name);
        this.keys.remove(name);
      }
    }
    for (const revision of deletes.revisions) {
      this.revisions.delete(revision);
    }
  }

  /** The keys as they were at `revision` (captured now). */
  at(revision: number): KvSource {
    const recordAt = (name: string): KeyValue | null => {
      let found: KeyValue | null = null;
      for (const version of this.versions.get(name) ?? []) {
        if (version.revision > revision) {
          break;
        }
        found = version.kv;
      }
      return found;
    };
    return {
      get: (key) => Promise.resolve(recordAt(keyString(key)) ?? undefined),
      scan: (range: ScanRange, mode: ScanMode) => {
        const found: KeyValue[] = [];
        for (const name of this.keys.inRange(range)) {
          const kv = recordAt(name);
          if (kv !== null) {
            found.push(shapeRecord(kv, mode));
          }
        }
        return iterate(found);
      },
    };
  }

  /** Every version, by key then revision (captured now). */
  allVersions(): VersionRecord[] {
    return this.keys.all().flatMap((name) => this.versions.get(name) as VersionRecord[]);
  }

  /** Revision records from `from` on, ascending (captured now). */
  revisionsFrom(from: number): RevisionRecord[] {
    return [...this.revisions.values()].filter((r) => r.revision >= from);
  }

  /** Records of the given versions (null for a tombstone or a version no longer held). */
  version(key: Uint8Array, revision: number): VersionRecord | undefined {
    return this.versions.get(keyString(key))?.find((v) => v.revision === revision);
  }
}

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
