/**
 * The durable LogStore: a segmented write-ahead log with group commit.
 *
 *     save()/compact() ──► validate against PendingView ──► encode into `pending` batch
 *                                                                  │ (scheduler.defer: setImmediate)
 *     resolve in order ◄── apply to DurableLog ◄── fdatasync ◄── one write of the whole batch
 *
 * One batch is in flight at a time; writes arriving meanwhile are encoded into the next batch,
 * so N concurrent appenders cost one write and one fdatasync. Nothing resolves before the
 * fdatasync that covers it (unless the caller asked for `sync: false`). See README.md for the
 * file format and the recovery rules.
 */
import * as path from 'node:path';
import type { Entry, HardState, LogIndex, SnapshotMeta, Term } from '@keyval/raft';
import { DiskFullError, LogWriteFailedError, StoreClosedError, StoreFailedError, WriteBufferFullError, isNoSpaceError } from '../errors';
import type { LogStore, LogStoreHealth, LogStoreState, LogUpdate, SaveOptions, SyncTiming } from '../log-store';
import { planCompact, planUpdate } from '../log-update-plan';
import type { DurableLog } from './durable-log';
import { PendingView } from './pending-view';
import { SnapshotMarkerKind, encodeSegmentStart, entryRecordBytes } from './record-codec';
import type { SegmentSet } from './segment-set';
import { WriteBatch, measureWrite } from './write-batch';
import type { PendingWrite, WriteParts } from './write-batch';
import { openWal } from './wal-open';
import { resolveWalOptions } from './wal-options';
import type { ResolvedWalOptions, WalLogStoreOptions } from './wal-options';

const PROBE_FILE_NAME = '.space-probe';
const PROBE_BYTES_MIN = 64 * 1024;

/**
 * The durable LogStore. Open with `WalLogStore.open(dataDir, options)`; see the file comment for
 * the write path and README.md for the format, the recovery rules and the failure handling.
 */
export class WalLogStore implements LogStore {
  private readonly view: PendingView;
  private pending: WriteBatch;
  private spare: WriteBatch;
  private state: LogStoreState = 'ok';
  private failure: Error | undefined;
  private flushing = false;
  private flushScheduled = false;
  private closing: Promise<void> | undefined;
  private idleWaiters: (() => void)[] = [];
  private probeTimer: { cancel(): void } | undefined;
  private probing: Promise<boolean> | undefined;
  private failedBatchBytes = 0;
  private lastSync: SyncTiming | undefined;

  private constructor(
    readonly walDir: string,
    private readonly durable: DurableLog,
    private readonly segments: SegmentSet,
    private readonly options: ResolvedWalOptions,
  ) {
    this.view = new PendingView(durable);
    this.pending = new WriteBatch(options.batchBufferBytes);
    this.spare = new WriteBatch(options.batchBufferBytes);
  }

  /**
   * Opens (creating if needed) the WAL in `<dataDir>/wal` and recovers it: every segment is
   * replayed and every checksum verified; a torn final record is truncated (logged); any other
   * damage throws CorruptLogError naming the file and offset.
   */
  static async open(dataDir: string, options?: WalLogStoreOptions): Promise<WalLogStore> {
    const resolved = resolveWalOptions(options);
    const opened = await openWal(dataDir, resolved);
    const store = new WalLogStore(opened.walDir, opened.durable, opened.segments, resolved);
    for (const stale of opened.stale) {
      resolved.logger.warn('removing a WAL segment left over from an interrupted deletion', { file: stale });
      await resolved.fileSystem.unlink(stale);
    }
    await store.removeObsoleteSegments();
    return store;
  }

  hardState(): HardState {
    return this.durable.hardState();
  }

  snapshotMeta(): SnapshotMeta {
    return this.durable.snapshotMeta();
  }

  firstIndex(): LogIndex {
    return this.durable.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.durable.lastIndex();
  }

  term(index: LogIndex): Term {
    return this.durable.term(index);
  }

  /** See RaftStorage.entries. Reading entries older than the cache after close() throws. */
  entries(lo: LogIndex, hi: LogIndex, maxBytes: number): Entry[] {
    return this.durable.entries(lo, hi, maxBytes);
  }

  save(update: LogUpdate, options?: SaveOptions): Promise<void> {
    try {
      this.assertWritable();
      const plan = planUpdate(this.view, update);
      const marker = update.snapshot === undefined ? undefined : { kind: SnapshotMarkerKind.Installed, keepSuffix: plan.keepSuffix, meta: update.snapshot };
      const parts: WriteParts = { marker, entries: update.entries ?? [], hardState: update.hardState };
      const promise = this.enqueue(parts, options?.sync !== false);
      if (update.snapshot !== undefined) {
        this.view.applySnapshot(update.snapshot, plan.keepSuffix);
      }
      this.view.append(parts.entries);
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  append(entries: readonly Entry[]): Promise<void> {
    return this.save({ entries });
  }

  setHardState(hardState: HardState): Promise<void> {
    return this.save({ hardState });
  }

  applySnapshot(meta: SnapshotMeta): Promise<void> {
    return this.save({ snapshot: meta });
  }

  compact(meta: SnapshotMeta): Promise<void> {
    try {
      this.assertWritable();
      if (!planCompact(this.view, meta)) {
        // Nothing to do, but resolve in order with the writes before it.
        return this.enqueue({ entries: [] }, false);
      }
      const promise = this.enqueue({ marker: { kind: SnapshotMarkerKind.Compacted, keepSuffix: true, meta }, entries: [] }, true);
      this.view.applySnapshot(meta, true);
      return promise;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  sync(): Promise<void> {
    try {
      this.assertWritable();
      return this.enqueue({ entries: [] }, true);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  lastSyncTiming(): SyncTiming | undefined {
    return this.lastSync;
  }

  logBytes(after: LogIndex, through: LogIndex): number {
    return this.durable.logBytes(after, through);
  }

  health(): LogStoreHealth {
    switch (this.state) {
      case 'ok':
        return { state: 'ok', writable: true };
      case 'disk-full':
        return { state: 'disk-full', writable: false, detail: `disk full in ${this.walDir}; writes refused until space returns` };
      case 'failed':
        return { state: 'failed', writable: false, detail: this.failure?.message ?? 'failed' };
      case 'closed':
        return { state: 'closed', writable: false, detail: 'closed' };
    }
  }

  /**
   * When the store is `disk-full`, checks whether a write of about the failed batch's size
   * fits now (by writing and deleting a probe file); if so the store is writable again.
   * Resolves to whether the store is writable. Runs by itself every `probeIntervalMs`.
   */
  probe(): Promise<boolean> {
    if (this.state !== 'disk-full') {
      return Promise.resolve(this.state === 'ok');
    }
    this.probing ??= this.runProbe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.idleWaiters.push(resolve);
      this.notifyIfIdle();
    });
    this.stopProbing();
    await this.segments.closeAll();
    if (this.state !== 'failed') {
      this.state = 'closed';
    }
  }

  private assertWritable(): void {
    if (this.closing !== undefined || this.state === 'closed') {
      throw new StoreClosedError();
    }
    if (this.state === 'failed') {
      throw new StoreFailedError(this.failure as Error);
    }
    if (this.state === 'disk-full') {
      throw new DiskFullError(this.walDir);
    }
  }

  /** Measures, bounds and encodes a validated write into the pending batch. */
  private enqueue(parts: WriteParts, sync: boolean): Promise<void> {
    const bytes = measureWrite(parts, this.options.maxRecordBytes);
    if (this.pending.bytes + bytes > this.options.writeBufferBytesMax) {
      throw new WriteBufferFullError(this.pending.bytes + bytes, this.options.writeBufferBytesMax);
    }
    const promise = this.pending.add(parts, sync);
    this.scheduleFlush();
    return promise;
  }

  private scheduleFlush(): void {
    if (this.flushing || this.flushScheduled || this.pending.size === 0) {
      return;
    }
    this.flushScheduled = true;
    // A deferred task (setImmediate), not a microtask: every write issued by the continuations
    // of the batch that just resolved joins the next batch.
    this.options.scheduler.defer(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.flushing || this.pending.size === 0 || this.state !== 'ok') {
      this.notifyIfIdle();
      return;
    }
    this.flushing = true;
    const batch = this.pending;
    this.pending = this.spare;
    this.spare = batch;
    void this.writeBatch(batch);
  };

  /**
   * Persists one batch, then resolves its writes. The flush state is cleared (and the next
   * batch scheduled) before the writes resolve, so writes issued by their continuations are
   * batched without waiting for an extra turn of the event loop.
   */
  private async writeBatch(batch: WriteBatch): Promise<void> {
    let durable: PendingWrite[] = [];
    try {
      durable = await this.persist(batch);
    } finally {
      batch.reset();
      this.flushing = false;
      this.scheduleFlush();
    }
    for (const write of durable) {
      write.resolve();
    }
    this.notifyIfIdle();
  }

  /**
   * Writes, syncs and applies one batch. Returns its writes, to be resolved; on failure they
   * are rejected here and the result is empty. Never throws.
   */
  private async persist(batch: WriteBatch): Promise<PendingWrite[]> {
    let position = -1;
    try {
      if (batch.bytes > 0) {
        if (this.segments.needsRoll(batch.bytes)) {
          await this.segments.roll(this.durable.lastIndex() + 1, encodeSegmentStart(this.durable.snapshotMeta(), this.durable.hardState()));
        }
        position = await this.segments.write(batch.view());
        this.options.observer?.written(batch.bytes);
      }
      if (batch.needsSync && this.segments.hasUnsyncedWrites) {
        const began = this.options.scheduler.nowMs();
        await this.segments.datasync();
        const ended = this.options.scheduler.nowMs();
        this.lastSync = { startMs: began, endMs: ended };
        this.options.observer?.synced(ended - began);
      }
    } catch (err) {
      this.failBatch(batch, err);
      return [];
    }
    try {
      this.applyBatch(batch, position);
      if (batch.hasMarker) {
        await this.removeObsoleteSegments();
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), batch);
      return [];
    }
    return batch.writes.splice(0);
  }

  /** The batch is durable: make it visible to reads, in write order. */
  private applyBatch(batch: WriteBatch, position: number): void {
    const segment = this.segments.active.seq;
    let entryNumber = 0;
    for (const write of batch.writes) {
      if (write.marker !== undefined) {
        this.durable.applySnapshot(write.marker.meta, write.marker.keepSuffix);
      }
      for (const entry of write.entries) {
        const offset = position + (batch.entryOffsets[entryNumber++] as number);
        this.durable.appendEntry(entry, segment, offset, entryRecordBytes(entry));
      }
      if (write.hardState !== undefined) {
        this.durable.setHardState(write.hardState);
      }
    }
    if (this.pending.size === 0) {
      this.view.reset();
    } else {
      this.view.settle();
    }
  }

  private failBatch(batch: WriteBatch, err: unknown): void {
    if (!(err instanceof DiskFullError)) {
      this.fail(err instanceof Error ? err : new Error(String(err)), batch);
      return;
    }
    this.state = 'disk-full';
    this.failedBatchBytes = batch.bytes;
    this.options.logger.warn('disk full: the write failed and was rolled back; refusing writes until space returns', {
      dir: this.walDir,
      bytes: batch.bytes,
      writes: batch.size + this.pending.size,
    });
    batch.rejectAll(err);
    this.pending.rejectAll(err);
    this.view.reset();
    this.startProbing();
  }

  /** Fatal: reject everything waiting, refuse everything after. Never retried. */
  private fail(err: Error, batch: WriteBatch): void {
    this.state = 'failed';
    this.failure = err;
    this.stopProbing();
    this.options.logger.error('the WAL failed; the process must restart', { dir: this.walDir, error: err.message });
    batch.rejectAll(err);
    this.pending.rejectAll(err);
  }

  private async removeObsoleteSegments(): Promise<void> {
    await this.segments.removeBefore(this.durable.firstLiveSegment() ?? this.segments.active.seq);
  }

  private async runProbe(): Promise<boolean> {
    const probePath = path.join(this.walDir, PROBE_FILE_NAME);
    const fs = this.options.fileSystem;
    const bytes = Math.min(Math.max(this.failedBatchBytes, PROBE_BYTES_MIN), this.options.writeBufferBytesMax);
    try {
      await fs.writeFile(probePath, Buffer.alloc(bytes));
      await fs.unlink(probePath);
    } catch (err) {
      await fs.unlink(probePath).catch(() => undefined);
      if (!isNoSpaceError(err)) {
        this.fail(new LogWriteFailedError(probePath, 'disk space probe', err), this.pending);
      }
      return false;
    }
    if (this.state === 'disk-full') {
      this.state = 'ok';
      this.stopProbing();
      this.options.logger.info('disk space is available again; writes resume', { dir: this.walDir });
    }
    return this.state === 'ok';
  }

  private startProbing(): void {
    if (this.probeTimer === undefined && this.options.probeIntervalMs > 0) {
      this.probeTimer = this.options.scheduler.setInterval(() => void this.probe(), this.options.probeIntervalMs);
    }
  }

  private stopProbing(): void {
    if (this.probeTimer !== undefined) {
      this.probeTimer.cancel();
      this.probeTimer = undefined;
    }
  }

  private notifyIfIdle(): void {
    if (this.flushing || this.flushScheduled || (this.pending.size > 0 && this.state === 'ok')) {
      return;
    }
    const waiters = this.idleWaiters.splice(0);
    for (const waiter of waiters) {
      waiter();
    }
  }
}
