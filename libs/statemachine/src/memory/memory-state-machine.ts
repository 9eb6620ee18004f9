/**
 * The state machine in memory: the reference implementation for tests and the simulation. It
 * runs the same apply engine as RocksStateMachine over a plain sorted map, writes the same
 * snapshot files, and passes the same conformance suite; the property test compares the two.
 * Nothing but snapshot files survives a restart.
 */
import type { Entry, LogIndex, Term } from '@keyval/raft';
import type { ApplyResult, MembershipState, SessionInfo } from '../command-types';
import type { DecodedEntry, MachineState } from '../engine/apply-batch';
import { ApplyBatch, copyMachineState, decodeEntries, initialMachineState } from '../engine/apply-batch';
import { retainedVersions } from '../engine/history';
import { checkReadRevision, readRange, readsLatest } from '../engine/range-reader';
import type { SessionRecord } from '../engine/session-table';
import { SessionTable } from '../engine/session-table';
import { StateMachineClosedError, StateMachineFailedError } from '../errors';
import type { RangeRequest, RangeResponse } from '../kv-types';
import type { StateMachineLimits } from '../limits';
import { resolveLimits } from '../limits';
import type { SnapshotFileInfo } from '../snapshot/snapshot-file';
import { readSnapshotRecords, snapshotInfo, writeSnapshotFile } from '../snapshot/snapshot-file';
import type { SnapshotHeader, SnapshotRecord } from '../snapshot/snapshot-format';
import { SnapshotImporter } from '../snapshot/snapshot-import';
import type { ImportedItem } from '../snapshot/snapshot-import';
import { SnapshotStore } from '../snapshot/snapshot-store';
import { checkHashRevision, hashKeySpace, hashRecords } from '../snapshot/state-hash';
import type { KvHash, StoreHash } from '../snapshot/state-hash';
import type { HistoryReadRequest, HistoryReadResult, StateMachine, StorageBytes, StoreChange } from '../state-machine';
import { ChangeListeners } from '../engine/change-listeners';
import { LeaseTable } from '../engine/lease-table';
import type { LeaseInfo, LeaseRecord } from '../engine/lease-table';
import { HistorySelection } from '../engine/history-read';
import { CompactedError, FutureRevisionError } from '../errors';
import { AsyncMutex } from '../util/async-mutex';
import { MemoryKvStore } from './memory-kv-store';

export interface MemoryStateMachineOptions {
  /** Where snapshot files are written and received. */
  readonly snapshotDir: string;
  readonly limits?: Partial<StateMachineLimits>;
}

export class MemoryStateMachine implements StateMachine {
  private store = new MemoryKvStore();
  private state: MachineState = initialMachineState();
  private sessionTable: SessionTable;
  private readonly mutex = new AsyncMutex();
  private readonly listeners = new ChangeListeners();
  private leaseTable = new LeaseTable();
  private closed = false;
  private failure: unknown;

  private constructor(
    readonly snapshots: SnapshotStore,
    private readonly limits: StateMachineLimits,
  ) {
    this.sessionTable = new SessionTable(limits);
  }

  static async create(options: MemoryStateMachineOptions): Promise<MemoryStateMachine> {
    const limits = resolveLimits(options.limits);
    return new MemoryStateMachine(await SnapshotStore.open(options.snapshotDir, limits), limits);
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

  /** Compaction is done with the batch that applies it: nothing to wait for. */
  compacted(): Promise<void> {
    this.checkOpen();
    return Promise.resolve();
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
        results.push(...(await this.applyBatch(decoded.slice(at, at + this.limits.maxApplyBatchEntries))));
      }
      return results;
    });
  }

  private async applyBatch(decoded: readonly DecodedEntry[]): Promise<ApplyResult[]> {
    try {
      const batch = new ApplyBatch(this.store, this.state, this.sessionTable, this.limits, this.leaseTable);
      const results: ApplyResult[] = [];
      for (const entry of decoded) {
        results.push(await batch.apply(entry));
      }
      this.store.commit(batch.view.writes(), batch.view.events());
      this.sessionTable.drainChanges();
      this.leaseTable.commit();
      this.state = batch.state;
      this.store.history.compact(this.state.compactRevision);
      this.listeners.emit({ type: 'committed', events: batch.view.events(), revision: this.state.revision, compactRevision: this.state.compactRevision });
      return results;
    } catch (error) {
      this.failure = error;
      throw error;
    }
  }

  range(request: RangeRequest): Promise<RangeResponse> {
    this.checkOpen();
    const { revision, compactRevision } = this.state;
    try {
      checkReadRevision(request.revision ?? 0, revision, compactRevision);
    } catch (error) {
      return Promise.reject(error);
    }
    const source = readsLatest(request.revision, revision) ? this.store : this.store.at(request.revision as number);
    return readRange(source, request, revision, this.limits.maxRangeResponseBytes);
  }

  hashKv(atRevision: number): Promise<KvHash> {
    this.checkOpen();
    const { revision, compactRevision } = this.state;
    let hashRevision: number;
    try {
      hashRevision = checkHashRevision(atRevision, revision, compactRevision);
    } catch (error) {
      return Promise.reject(error);
    }
    const versions = this.store.history.allVersions();
    return hashKeySpace(iterate(versions), compactRevision, hashRevision).then((hash) => ({ hash, hashRevision, revision, compactRevision }));
  }

  /** Nothing to give back in memory. */
  defragment(): Promise<void> {
    this.checkOpen();
    return Promise.resolve();
  }

  /** Bytes of the keys and values of every version held. */
  storageBytes(): StorageBytes {
    this.checkOpen();
    let inUse = 0;
    for (const version of this.store.history.allVersions()) {
      inUse += version.key.byteLength + (version.kv?.value.byteLength ?? 0);
    }
    return { inUse };
  }

  async hashStore(): Promise<StoreHash> {
    this.checkOpen();
    const capture = await this.mutex.run(() => this.capture());
    return { hash: await hashRecords(capture.header, iterate(capture.records)), revision: capture.header.revision };
  }

  onChange(listener: (change: StoreChange) => void): () => void {
    return this.listeners.add(listener);
  }

  readHistory(request: HistoryReadRequest): Promise<HistoryReadResult> {
    this.checkOpen();
    const { revision, compactRevision } = this.state;
    if (request.fromRevision < compactRevision) {
      return Promise.reject(CompactedError.of(request.fromRevision, compactRevision));
    }
    if (request.toRevision > revision) {
      return Promise.reject(FutureRevisionError.of(request.toRevision, revision));
    }
    const selection = new HistorySelection(request);
    for (const record of this.store.history.revisionsFrom(request.fromRevision)) {
      selection.take(record);
      if (selection.done) {
        break;
      }
    }
    selection.reachedEnd();
    const history = this.store.history;
    return selection.events((refs) => Promise.resolve(refs.map((ref) => history.version(ref.key, ref.revision))));
  }

  async createSnapshot(): Promise<SnapshotFileInfo> {
    this.checkOpen();
    const capture = await this.mutex.run(() => this.capture());
    const info = await writeSnapshotFile(this.snapshots.dir, capture.header, iterate(capture.records), this.limits.snapshotChunkBytes);
    await this.snapshots.add(info);
    return info;
  }

  /** The state between batches, in snapshot order. */
  private async capture(): Promise<{ header: Omit<SnapshotHeader, 'format'>; records: SnapshotRecord[] }> {
    const { appliedIndex, appliedTerm, revision, compactRevision, logTimeMs, membership } = this.state;
    const sessions = this.sessionTable.records().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const records: SnapshotRecord[] = sessions.map((session) => ({ type: 'session', session }));
    for (const record of this.store.history.revisionsFrom(compactRevision)) {
      records.push({ type: 'revision', record });
    }
    for await (const version of retainedVersions(iterate(this.store.history.allVersions()), compactRevision)) {
      records.push({ type: 'version', version });
    }
    for (const lease of this.leaseTable.records()) {
      records.push({ type: 'lease', lease });
    }
    return { header: { lastIndex: appliedIndex, lastTerm: appliedTerm, revision, compactRevision, logTimeMs, membership }, records };
  }

  restore(file: string): Promise<SnapshotFileInfo> {
    this.checkOpen();
    return this.mutex.run(async () => {
      this.checkOpen();
      const store = new MemoryKvStore();
      const sessions: SessionRecord[] = [];
      const leases: LeaseRecord[] = [];
      const attachments: Array<{ id: bigint; key: string }> = [];
      let header: SnapshotHeader | undefined;
      let importer: SnapshotImporter | undefined;
      const add = (items: readonly ImportedItem[]): void => {
        for (const item of items) {
          if (item.type === 'session') {
            sessions.push(item.session);
          } else if (item.type === 'lease') {
            leases.push(item.lease);
          } else {
            if (item.type === 'latest' && item.kv.lease !== undefined && item.kv.lease !== 0n) {
              attachments.push({ id: item.kv.lease, key: Buffer.from(item.kv.key).toString('latin1') });
            }
            store.restore(item);
          }
        }
      };
      for await (const item of readSnapshotRecords(file, this.limits)) {
        if (item.type === 'header') {
          header = item.header;
          importer = new SnapshotImporter(item.header);
        } else if (item.type === 'records') {
          add((importer as SnapshotImporter).items(item.records));
        } else {
          add((importer as SnapshotImporter).finish());
        }
      }
      const restored = header as SnapshotHeader;
      const table = new SessionTable(this.limits);
      table.load(sessions);
      store.history.restoredCompaction(restored.compactRevision);
      const leaseTable = new LeaseTable();
      leaseTable.load(leases, attachments);
      this.store = store;
      this.sessionTable = table;
      this.leaseTable = leaseTable;
      this.state = copyMachineState({
        appliedIndex: restored.lastIndex,
        appliedTerm: restored.lastTerm,
        revision: restored.revision,
        compactRevision: restored.compactRevision,
        logTimeMs: restored.logTimeMs,
        membership: restored.membership,
      });
      this.listeners.emit({ type: 'restored', revision: this.state.revision, compactRevision: this.state.compactRevision });
      return snapshotInfo(file, restored);
    });
  }

  close(): Promise<void> {
    return this.mutex.run(() => {
      this.closed = true;
      return Promise.resolve();
    });
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

async function* iterate<T>(items: readonly T[]): AsyncGenerator<T> {
  yield* items;
}
