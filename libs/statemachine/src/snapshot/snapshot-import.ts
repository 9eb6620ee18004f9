/**
 * What restoring a snapshot file stores, whatever its format: sessions, each key's latest
 * record, its versions and the revision records. Both implementations restore through this,
 * so they derive the same state from the same file.
 *
 * - Format 2 holds the history: a key's latest record is its last version, when that is not a
 *   tombstone.
 * - Format 1 holds only each key's latest record: it becomes that key's one version, and the
 *   store counts as compacted at the file's revision (the header says so), so no read or watch
 *   reaches below what the file knows. The revision record of that revision is rebuilt from
 *   the keys it last wrote (in key order: the file kept no write order).
 */
import type { RevisionWrite, VersionRecord } from '../engine/history';
import { keyString } from '../engine/key-span';
import type { SessionRecord } from '../engine/session-table';
import type { KeyValue } from '../kv-types';
import { assertNever } from '../util/assert-never';
import type { SnapshotHeader, SnapshotRecord } from './snapshot-format';
import type { RevisionRecord } from '../engine/history';
import type { LeaseRecord } from '../engine/lease-table';

export type ImportedItem =
  | { readonly type: 'session'; readonly session: SessionRecord }
  /** A key's current record. */
  | { readonly type: 'latest'; readonly kv: KeyValue }
  | { readonly type: 'version'; readonly version: VersionRecord }
  | { readonly type: 'revision'; readonly record: RevisionRecord }
  | { readonly type: 'lease'; readonly lease: LeaseRecord };

export class SnapshotImporter {
  /** The last version of the key being read (format 2). */
  private last: VersionRecord | undefined;
  /** Format 1: the writes of the file's revision. */
  private readonly lastRevisionWrites: RevisionWrite[] = [];

  constructor(private readonly header: SnapshotHeader) {}

  /** The items for a batch of records (in file order). */
  items(records: readonly SnapshotRecord[]): ImportedItem[] {
    const out: ImportedItem[] = [];
    for (const record of records) {
      switch (record.type) {
        case 'session':
          out.push(record);
          break;
        case 'revision':
        case 'lease':
          out.push(record);
          break;
        case 'version':
          if (this.last !== undefined && keyString(this.last.key) !== keyString(record.version.key)) {
            this.flushLatest(out);
          }
          this.last = record.version;
          out.push(record);
          break;
        case 'kv':
          this.migrate(record.kv, out);
          break;
        default:
          assertNever(record);
      }
    }
    return out;
  }

  /** The items left after the last record. */
  finish(): ImportedItem[] {
    const out: ImportedItem[] = [];
    this.flushLatest(out);
    if (this.lastRevisionWrites.length > 0) {
      out.push({ type: 'revision', record: { revision: this.header.revision, writes: this.lastRevisionWrites } });
    }
    return out;
  }

  private flushLatest(out: ImportedItem[]): void {
    if (this.last?.kv != null) {
      out.push({ type: 'latest', kv: this.last.kv });
    }
    this.last = undefined;
  }

  private migrate(kv: KeyValue, out: ImportedItem[]): void {
    out.push({ type: 'latest', kv }, { type: 'version', version: { key: kv.key, revision: kv.modRevision, kv } });
    if (kv.modRevision === this.header.revision) {
      this.lastRevisionWrites.push({ type: 'put', key: kv.key, prevRevision: 0 });
    }
  }
}
