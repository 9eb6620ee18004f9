/**
 * Reading the history in revision order (StateMachine.readHistory), shared by both
 * implementations: which writes of the revision records a read returns, and the events they
 * become once their versions are fetched.
 */
import { StorageCorruptError } from '../errors';
import type { KeyValue } from '../kv-types';
import type { HistoryReadRequest, HistoryReadResult } from '../state-machine';
import type { KeyEvent, RevisionRecord, RevisionWrite, VersionRecord } from './history';
import { deleteEvent } from './history';

/** A version to fetch: `key` at `revision`. */
export interface VersionRef {
  readonly key: Uint8Array;
  readonly revision: number;
}

/** Fetches versions (undefined where not held), in the order asked. */
export type FetchVersions = (refs: readonly VersionRef[]) => Promise<Array<VersionRecord | undefined>>;

/** Takes revision records in order and keeps the writes a read returns. */
export class HistorySelection {
  readonly writes: Array<{ readonly revision: number; readonly write: RevisionWrite }> = [];
  /** The first revision not taken yet. */
  nextRevision: number;
  private full = false;

  constructor(private readonly request: HistoryReadRequest) {
    this.nextRevision = request.fromRevision;
  }

  /** Whether the read is complete (the last revision or the event budget reached). */
  get done(): boolean {
    return this.full || this.nextRevision > this.request.toRevision;
  }

  /** Takes one record (records come in ascending order); ignores those outside the read. */
  take(record: RevisionRecord): void {
    if (this.done || record.revision < this.nextRevision) {
      return;
    }
    for (const write of record.writes) {
      if (this.request.keyFilter === undefined || this.request.keyFilter(write.key)) {
        this.writes.push({ revision: record.revision, write });
      }
    }
    this.nextRevision = record.revision + 1;
    this.full = this.writes.length >= this.request.maxEvents;
  }

  /** Marks every revision up to the end of the read as taken (no more records there). */
  reachedEnd(): void {
    if (!this.full) {
      this.nextRevision = this.request.toRevision + 1;
    }
  }

  /** The events, fetching the versions (and previous versions if asked). */
  async events(fetch: FetchVersions): Promise<HistoryReadResult> {
    const versions = await fetch(this.writes.map(({ revision, write }) => ({ key: write.key, revision })));
    const prevRefs = this.request.prevKv === true ? this.writes.filter(({ write }) => write.prevRevision > 0).map(({ write }) => ({ key: write.key, revision: write.prevRevision })) : [];
    const prevs = prevRefs.length === 0 ? [] : await fetch(prevRefs);
    let prevAt = 0;
    const events: KeyEvent[] = [];
    this.writes.forEach(({ revision, write }, i) => {
      const version = versions[i];
      if (version === undefined) {
        throw new StorageCorruptError(`version of 0x${Buffer.from(write.key).toString('hex')} at ${revision}`, 'named by its revision record but not held');
      }
      let prev: KeyValue | undefined;
      if (this.request.prevKv === true && write.prevRevision > 0) {
        // Missing when a compaction removed it (etcd then sends the event without prev_kv).
        prev = prevs[prevAt++]?.kv ?? undefined;
      }
      if (write.type === 'delete') {
        events.push(deleteEvent(write.key, revision, prev));
      } else if (version.kv === null) {
        throw new StorageCorruptError(`version of 0x${Buffer.from(write.key).toString('hex')} at ${revision}`, 'a put whose version is a tombstone');
      } else {
        events.push({ type: 'put', kv: version.kv, prev });
      }
    });
    return { events, nextRevision: this.nextRevision };
  }
}
