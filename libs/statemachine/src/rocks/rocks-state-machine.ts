/**
 * The state machine on RocksDB. Each apply batch is one RocksDB write batch holding the
 * batch's key writes, the changed sessions, the membership if it changed, and the applied
 * index, term, revision and log time, so a restart resumes exactly after the last batch
 * written: nothing is applied twice and the log is not replayed from the start.
 *
 * Every version of every key is kept (key-layout.ts) until a compaction: applying one makes
 * reads below it fail at once, and a RocksCompactor then deletes what became unreachable in
 * the background, in bounded steps (`compacted` waits for it).
 *
 * Writes are not fsynced by default (`syncWrites`): RocksDB's WAL is in the OS page cache, so
 * a killed process loses nothing; a power loss may lose the last batches, which the driver
 * re-applies from the Raft log (entries after `appliedIndex()` are still there, because the
 * log is only compacted up to a snapshot, and `createSnapshot` syncs the WAL first).
 */
import type { Entry, LogIndex, Term } from '@keyval/raft';
import type { ApplyResult, MembershipState, SessionInfo } from '../command-types';
import type { DecodedEntry, MachineState } from '../engine/apply-batch';
import { ApplyBatch, decodeEntries, prefetchKeys } from '../engine/apply-batch';
import { revisionRecords } from '../engine/history';
import { checkReadRevision, readRange, readsLatest } from '../engine/range-reader';
import { SessionTable } from '../engine/session-table';
import { StateMachineClosedError, StateMachineFailedError } from '../errors';
import type { RangeRequest, RangeResponse } from '../kv-types';
import type { StateMachineLimits } from '../limits';
import { resolveLimits } from '../limits';
import type { SnapshotFileInfo } from '../snapshot/snapshot-file';
import { snapshotInfo } from '../snapshot/snapshot-file';
import type { SnapshotHeader } from '../snapshot/snapshot-format';
import { SnapshotStore } from '../snapshot/snapshot-store';
import { checkHashRevision, hashKeySpace } from '../snapshot/state-hash';
import type { KvHash, StoreHash } from '../snapshot/state-hash';
import type { HistoryReadRequest, HistoryReadResult, StateMachine, StorageBytes, StoreChange } from '../state-machine';
import { ChangeListeners } from '../engine/change-listeners';
import { HistorySelection } from '../engine/history-read';
import type { VersionRef } from '../engine/history-read';
import type { VersionRecord } from '../engine/history';
import { CompactedError, FutureRevisionError } from '../errors';
import { AsyncMutex } from '../util/async-mutex';
import { removePath } from '../util/durable-fs';
import { ReadGate } from '../util/read-gate';
import { commitGeneration, databasePath, openDataDir, snapshotsPath } from './data-dir';
import type { KeyValue } from '../kv-types';
import type { CompactionProgress } from './key-layout';
import {
  APPLIED_KEY,
  MEMBERSHIP_KEY,
  PREFIX_LEASE_KEY,
  PREFIX_META,
  PREFIX_REVISION,
  PREFIX_VERSION,
  TOMBSTONE_VALUE,
  decodeRevisionChunk,
  decodeVersion,
  encodeAppliedState,
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
  versionKey,
} from './key-layout';
import { CompactorStoppedError, RocksCompactor } from './rocks-compactor';
import { buildDatabase, exportSnapshot, hashDatabase, loadMachine } from './rocks-snapshot';
import type { LoadedMachine } from './rocks-snapshot';
import { LeaseTable } from '../engine/lease-table';
import type { LeaseInfo, LeaseRecord } from '../engine/lease-table';
import type { RocksWrite } from './rocks-database';
import { RocksDatabase } from './rocks-database';
import { PointInTimeRead } from './point-in-time-read';
import { RocksKvStore } from './rocks-kv-store';

/** Steps of a restore, for crash tests: a hook that throws stops the restore right after one. */
export type RestoreStep = 'built' | 'committed' | 'swapped';

export interface RocksStateMachineOptions {
  /** The member's state-machine directory (database generations and snapshots). */
  readonly dataDir: string;
  readonly limits?: Partial<StateMachineLimits>;
  /** fsync every apply batch (default false; see the class comment). */
  readonly syncWrites?: boolean;
  /** Hears how long each apply batch's RocksDB write took (metrics). Default: none. */
  readonly observer?: BackendObserver;
  /** Test hook called after each restore step. */
  readonly afterRestoreStep?: (step: RestoreStep) => void | Promise<void>;
  /** Waits between two steps of a physical compaction (default: the next event-loop turn). */
  readonly compactionPause?: () => Promise<void>;
}

/** Bytes of revision chunks a history read takes per native iterator call. */
const HISTORY_READ_BATCH_BYTES = 64 * 1024;
/** Versions fetched per getMany by a history read. */
const HISTORY_FETCH_BATCH = 1000;
const REVISIONS_END = Buffer.of(PREFIX_REVISION + 1);
const EMPTY = Buffer.alloc(0);

/**
 * What the state machine tells an observer (metrics: etcd's
 * `etcd_disk_backend_commit_duration_seconds`). Must be cheap and must not throw.
 */
export interface BackendObserver {
  /** One apply batch's write batch was committed to RocksDB in `durationMs`. */
  committed(durationMs: number): void;
}

/** Bytes the snapshot export reads per native iterator call (see createSnapshot). */
const SNAPSHOT_SCAN_BATCH_BYTES = 32 * 1024;

export class RocksStateMachine implements StateMachine {
  private readonly mutex = new AsyncMutex();
  private readonly gate = new ReadGate();
  private readonly listeners = new ChangeListeners();
  private leaseTable = new LeaseTable();
  private kvStore: RocksKvStore;
  private compactor: RocksCompactor;
  /** False between closing the old database and opening the new one in a swap. */
  private dbOpen = true;
  private closed = false;
  private failure: unknown;

  private constructor(
    private db: RocksDatabase,
    private generation: number,
    private state: MachineState,
    private sessionTable: SessionTable,
    readonly snapshots: SnapshotStore,
    private readonly limits: StateMachineLimits,
    private readonly options: RocksStateMachineOptions,
    loaded: Pick<LoadedMachine, 'compaction' | 'leases' | 'attachments'>,
  ) {
    this.kvStore = new RocksKvStore(db, limits.recordCacheBytes);
    this.leaseTable.load(loaded.leases, loaded.attachments);
    const compaction = loaded.compaction;
    this.compactor = this.newCompactor(compaction);
  }

  private newCompactor(progress: CompactionProgress): RocksCompactor {
    const compactor = new RocksCompactor(this.db, progress, {
      stepWrites: this.limits.compactionStepWrites,
      stepReadBytes: 64 * 1024,
      ...(this.options.compactionPause !== undefined && { pause: this.options.compactionPause }),
      onFailure: (error) => {
        this.failure ??= error;
      },
    });
    // Work left by a crash, or by a compaction applied just before it.
    compactor.schedule(this.state.compactRevision);
    return compactor;
  }

  /** Opens (creating) a state machine in `options.dataDir`, finishing or undoing an interrupted restore. */
  static async open(options: RocksStateMachineOptions): Promise<RocksStateMachine> {
    const limits = resolveLimits(options.limits);
    const generation = await openDataDir(options.dataDir);
    const snapshots = await SnapshotStore.open(snapshotsPath(options.dataDir), limits);
    const db = await RocksDatabase.open(databasePath(options.dataDir, generation));
    try {
      const loaded = await loadMachine(db);
      const table = new SessionTable(limits);
      table.load(loaded.sessions);
      return new RocksStateMachine(db, generation, loaded.state, table, snapshots, limits, options, loaded);
    } catch (error) {
      await db.close();
      throw error;
    }
  }

  appliedIndex(): LogIndex {
    return this.state.appliedIndex;
  }

  appliedTerm(): Term {
    return this.state.appliedTerm;
  }

  revision(): number {
    return this.state.revision;
  }

  compactRevision(): number {
    return this.state.compactRevision;
  }

  async compacted(revision: number): Promise<void> {
    for (;;) {
      this.checkOpen();
      const compactor = this.compactor;
      try {
        await compactor.whenDone(Math.min(revision, this.state.compactRevision));
        return;
      } catch (error) {
        // A restore replaced the database (and its compactor): wait on the new one.
        if (!(error instanceof CompactorStoppedError) || compactor === this.compactor) {
          this.checkOpen();
          throw error;
        }
      }
    }
  }

  logTimeMs(): number {
    return this.state.logTimeMs;
  }

  membership(): MembershipState {
    return this.state.membership;
  }

  sessions(): readonly SessionInfo[] {
    return this.sessionTable.info();
  }

  leases(): readonly LeaseRecord[] {
    return this.leaseTable.records();
  }

  lease(id: bigint): LeaseInfo | undefined {
    return this.leaseTable.info(id);
  }

  apply(entries: readonly Entry[]): Promise<ApplyResult[]> {
    this.checkOpen();
    return this.mutex.run(async () => {
      this.checkOpen();
      const decoded = decodeEntries(entries, this.state.appliedIndex, this.limits);
      const results: ApplyResult[] = [];
      for (let at = 0; at < decoded.length; at += this.limits.maxApplyBatchEntries) {
        results.push(...(await this.fatalOnError(() => this.applyBatch(decoded.slice(at, at + this.limits.maxApplyBatchEntries)))));
      }
      return results;
    });
  }

  private async applyBatch(decoded: readonly DecodedEntry[]): Promise<ApplyResult[]> {
    const batch = new ApplyBatch(this.kvStore, this.state, this.sessionTable, this.limits, this.leaseTable);
    await batch.view.prefetch(prefetchKeys(decoded));
    const results: ApplyResult[] = [];
    for (const entry of decoded) {
      results.push(await batch.apply(entry));
    }
    const ops: RocksWrite[] = [];
    // A record usually is both a key's latest record and its new version: encode it once.
    const encoded = new Map<KeyValue, Buffer>();
    for (const [name, slot] of batch.view.writes()) {
      const key = kvKey(Buffer.from(name, 'latin1'));
      if (slot === null) {
        ops.push({ type: 'del', key });
      } else {
        const value = encodeKvValue(slot);
        encoded.set(slot, value);
        ops.push({ type: 'put', key, value });
      }
    }
    const events = batch.view.events();
    for (const event of events) {
      const value = event.type === 'delete' ? TOMBSTONE_VALUE : (encoded.get(event.kv) ?? encodeKvValue(event.kv));
      ops.push({ type: 'put', key: versionKey(event.kv.key, event.kv.modRevision), value });
    }
    const records = revisionRecords(events);
    const last = records[records.length - 1];
    if (last !== undefined) {
      ops.push({ type: 'put', key: revisionKey(last.revision), value: encodeRevisionChunk(records) });
    }
    const { upserts, deletes } = this.sessionTable.drainChanges();
    for (const session of upserts) {
      ops.push({ type: 'put', key: sessionKey(session.key), value: encodeSessionValue(session) });
    }
    for (const key of deletes) {
      ops.push({ type: 'del', key: sessionKey(key) });
    }
    const leases = this.leaseTable.prepare();
    for (const lease of leases.upserts) {
      ops.push({ type: 'put', key: leaseKey(lease.id), value: encodeLeaseValue(lease) });
    }
    for (const id of leases.deletes) {
      ops.push({ type: 'del', key: leaseKey(id) });
    }
    for (const { id, key } of leases.detached) {
      ops.push({ type: 'del', key: leaseAttachmentKey(id, key) });
    }
    for (const { id, key } of leases.attached) {
      ops.push({ type: 'put', key: leaseAttachmentKey(id, key), value: EMPTY });
    }
    if (batch.membershipChanged) {
      ops.push({ type: 'put', key: MEMBERSHIP_KEY, value: encodeMembershipValue(batch.state.membership) });
    }
    ops.push({ type: 'put', key: APPLIED_KEY, value: encodeAppliedState(batch.state) });
    this.gate.beginWrite();
    try {
      const began = performance.now();
      await this.db.write(ops, this.options.syncWrites === true);
      this.options.observer?.committed(performance.now() - began);
      this.state = batch.state;
      this.kvStore.committed(batch.view.writes());
      this.leaseTable.commit();
    } finally {
      this.gate.endWrite();
    }
    this.compactor.schedule(this.state.compactRevision);
    this.listeners.emit({ type: 'committed', events, revision: this.state.revision, compactRevision: this.state.compactRevision });
    return results;
  }

  async range(request: RangeRequest): Promise<RangeResponse> {
    this.checkOpen();
    const read = await this.gate.enterRead(() => {
      const { revision, compactRevision } = this.state;
      checkReadRevision(request.revision ?? 0, revision, compactRevision);
      return new PointInTimeRead(this.db, request, revision, readsLatest(request.revision, revision) ? undefined : request.revision);
    });
    try {
      return await readRange(read, request, read.revision, this.limits.maxRangeResponseBytes);
    } finally {
      await read.end();
      this.gate.exitRead();
    }
  }

  async hashKv(atRevision: number): Promise<KvHash> {
    this.checkOpen();
    const read = await this.gate.enterRead(() => {
      const { revision, compactRevision } = this.state;
      const hashRevision = checkHashRevision(atRevision, revision, compactRevision);
      // Not cached: a one-off full scan of the versions, in small native batches.
      const iterator = this.db.iterator({ ...prefixBounds(PREFIX_VERSION), batchBytes: SNAPSHOT_SCAN_BATCH_BYTES, fillCache: false });
      return { iterator, revision, compactRevision, hashRevision };
    });
    try {
      const versions = async function* (): AsyncGenerator<VersionRecord> {
        for await (const entry of read.iterator.entries()) {
          yield decodeVersion(entry.key, entry.value);
        }
      };
      const hash = await hashKeySpace(versions(), read.compactRevision, read.hashRevision);
      return { hash, hashRevision: read.hashRevision, revision: read.revision, compactRevision: read.compactRevision };
    } finally {
      await read.iterator.end();
      this.gate.exitRead();
    }
  }

  async defragment(): Promise<void> {
    this.checkOpen();
    // One key prefix per step (each a CompactRange on a worker thread): applies and reads go
    // on meanwhile; a restore or close waits for the running step only.
    for (let prefix = PREFIX_META; prefix <= PREFIX_LEASE_KEY; prefix++) {
      await this.gate.enterRead(() => undefined);
      try {
        this.checkOpen();
        const { gte, lt } = prefixBounds(prefix);
        await this.db.compactRange(gte, lt);
      } finally {
        this.gate.exitRead();
      }
    }
  }

  storageBytes(): StorageBytes {
    this.checkOpen();
    // Live SST data plus what the memtables hold (not yet flushed): etcd's "in use".
    return { inUse: this.db.numericProperty('rocksdb.estimate-live-data-size') + this.db.numericProperty('rocksdb.cur-size-all-mem-tables') };
  }

  async hashStore(): Promise<StoreHash> {
    this.checkOpen();
    const iterator = await this.gate.enterRead(() => this.db.iterator({ batchBytes: SNAPSHOT_SCAN_BATCH_BYTES, fillCache: false }));
    try {
      return await hashDatabase(iterator, this.options.dataDir);
    } finally {
      this.gate.exitRead();
    }
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.listeners.add(listener);
  }

  async readHistory(request: HistoryReadRequest): Promise<HistoryReadResult> {
    this.checkOpen();
    const iterator = await this.gate.enterRead(() => {
      const { revision, compactRevision } = this.state;
      if (request.fromRevision < compactRevision) {
        throw CompactedError.of(request.fromRevision, compactRevision);
      }
      if (request.toRevision > revision) {
        throw FutureRevisionError.of(request.toRevision, revision);
      }
      return this.db.iterator({ gte: revisionKey(request.fromRevision), lt: REVISIONS_END, batchBytes: HISTORY_READ_BATCH_BYTES });
    });
    try {
      const selection = new HistorySelection(request);
      try {
        while (!selection.done) {
          const entry = await iterator.next();
          if (entry === undefined) {
            selection.reachedEnd();
            break;
          }
          for (const record of decodeRevisionChunk(entry.key, entry.value)) {
            selection.take(record);
          }
        }
      } finally {
        await iterator.end();
      }
      try {
        return await selection.events((refs) => this.fetchVersions(refs));
      } catch (error) {
        // A compaction that overtook the read removed versions it needed.
        if (this.state.compactRevision > request.fromRevision) {
          throw CompactedError.of(request.fromRevision, this.state.compactRevision);
        }
        throw error;
      }
    } finally {
      this.gate.exitRead();
    }
  }

  private async fetchVersions(refs: readonly VersionRef[]): Promise<Array<VersionRecord | undefined>> {
    const out: Array<VersionRecord | undefined> = [];
    for (let at = 0; at < refs.length; at += HISTORY_FETCH_BATCH) {
      const part = refs.slice(at, at + HISTORY_FETCH_BATCH);
      const keys = part.map((ref) => versionKey(ref.key, ref.revision));
      const values = await this.db.getMany(keys);
      values.forEach((value, i) => out.push(value === undefined ? undefined : decodeVersion(keys[i] as Buffer, value)));
    }
    return out;
  }

  async createSnapshot(): Promise<SnapshotFileInfo> {
    this.checkOpen();
    // Between batches: sync the WAL (so the log may be compacted up to this snapshot) and fix
    // the point in time with an iterator; applies continue while the file is written.
    const iterator = await this.mutex.run(async () => {
      this.checkOpen();
      await this.fatalOnError(() => this.db.write([{ type: 'put', key: APPLIED_KEY, value: encodeAppliedState(this.state) }], true));
      // Small native batches: the export decodes and re-encodes each batch on the event loop
      // without yielding, and 256 KiB batches (~800 records) held it for tens of ms, stalling
      // every member's replication at each snapshot. Not cached: a one-off full scan.
      return this.gate.enterRead(() => this.db.iterator({ batchBytes: SNAPSHOT_SCAN_BATCH_BYTES, fillCache: false }));
    });
    try {
      const info = await exportSnapshot(iterator, this.snapshots.dir, this.limits.snapshotChunkBytes);
      await this.snapshots.add(info);
      return info;
    } finally {
      this.gate.exitRead();
    }
  }

  restore(file: string): Promise<SnapshotFileInfo> {
    this.checkOpen();
    return this.mutex.run(async () => {
      this.checkOpen();
      const next = this.generation + 1;
      const location = databasePath(this.options.dataDir, next);
      await removePath(location);
      let header: SnapshotHeader;
      try {
        header = await buildDatabase(file, location, this.limits);
      } catch (error) {
        // Before the commit point the live database is untouched: a corrupt, truncated or
        // missing file (or a full disk) fails this restore only.
        await removePath(location);
        throw error;
      }
      await this.fatalOnError(async () => {
        await this.options.afterRestoreStep?.('built');
        await commitGeneration(this.options.dataDir, next);
        await this.options.afterRestoreStep?.('committed');
        await this.swapDatabase(next);
        this.listeners.emit({ type: 'restored', revision: this.state.revision, compactRevision: this.state.compactRevision });
        await this.options.afterRestoreStep?.('swapped');
        await removePath(databasePath(this.options.dataDir, next - 1));
      });
      return snapshotInfo(file, header);
    });
  }

  /** Closes the live database and opens generation `next` in its place. */
  private async swapDatabase(next: number): Promise<void> {
    await this.gate.beginExclusive();
    try {
      await this.compactor.stop();
      this.dbOpen = false;
      await this.db.close();
      this.db = await RocksDatabase.open(databasePath(this.options.dataDir, next));
      this.dbOpen = true;
      this.generation = next;
      this.kvStore = new RocksKvStore(this.db, this.limits.recordCacheBytes);
      const loaded = await loadMachine(this.db);
      const table = new SessionTable(this.limits);
      table.load(loaded.sessions);
      this.state = loaded.state;
      this.sessionTable = table;
      const leaseTable = new LeaseTable();
      leaseTable.load(loaded.leases, loaded.attachments);
      this.leaseTable = leaseTable;
      this.compactor = this.newCompactor(loaded.compaction);
    } finally {
      this.gate.endExclusive();
    }
  }

  close(): Promise<void> {
    return this.mutex.run(async () => {
      if (this.closed) {
        return;
      }
      this.closed = true;
      await this.compactor.stop();
      await this.gate.beginExclusive();
      if (this.dbOpen) {
        this.dbOpen = false;
        await this.db.close();
      }
    });
  }

  private async fatalOnError<T>(section: () => Promise<T>): Promise<T> {
    try {
      return await section();
    } catch (error) {
      this.failure ??= error;
      throw error;
    }
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new StateMachineClosedError();
    }
    if (this.failure !== undefined) {
      throw new StateMachineFailedError(this.failure);
    }
  }
}
