/**
 * One member's disk. The core reads a volatile view (a MemoryStorage: what the process has
 * written, including what the OS has not yet flushed); a durable copy holds only what an fsync
 * (or the OS's background writeback) has made durable. Writes from one Ready form one batch;
 * batches become durable whole and in order, so "hard state written but entries not" cannot
 * happen. A crash keeps the durable copy plus, at most, a prefix of the pending batches (the
 * OS may have written some back) and loses the rest.
 *
 * State-machine images (snapshots) live next to the log: a member's own images are written
 * durably at once; an image received from the leader rides in the batch that installs it.
 *
 *     Ready ──write()──▶ volatile view (now)      ──▶ core reads it
 *                 └────▶ pending batches ──sync()──▶ durable copy ──crash()──▶ new volatile view
 */
import { MemoryStorage } from '@keyval/raft';
import type { Entry, HardState, LogIndex, SnapshotMeta } from '@keyval/raft';
import type { SmImage } from './kv-state-machine';
import { SimInvariantError } from './sim.errors';

/** The writes of one Ready. */
export interface WriteBatch {
  readonly snapshot: { readonly meta: SnapshotMeta; readonly image: SmImage } | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
}

/** Pending (not yet durable) batches a disk holds at most; more means fsyncs never complete. */
export const MAX_PENDING_BATCHES = 10_000;
/** Images kept per member at most (older ones are pruned first). */
export const MAX_IMAGES = 8;

export class SimDisk {
  /** What the core reads; every write lands here at once. */
  volatile: MemoryStorage;
  private readonly durable: MemoryStorage;
  private readonly images = new Map<LogIndex, SmImage>();
  private pending: WriteBatch[] = [];
  /**
   * The log's snapshot index before its latest change. A Snapshot message the core queued
   * before a compaction still names that snapshot, so its image is kept until the next change.
   */
  private retainFloor = 0;
  /** Batches made durable so far (for traces and tests). */
  syncedBatches = 0;

  constructor(initial?: { entries: readonly Entry[]; hardState: HardState }) {
    this.durable = new MemoryStorage();
    if (initial !== undefined) {
      this.durable.append(initial.entries);
      this.durable.setHardState(initial.hardState);
    }
    this.volatile = cloneStorage(this.durable);
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Applies a Ready's writes to the volatile view and queues them for durability. */
  write(batch: WriteBatch): void {
    if (this.pending.length >= MAX_PENDING_BATCHES) {
      throw new SimInvariantError(`disk: more than ${MAX_PENDING_BATCHES} unsynced batches`);
    }
    if (batch.snapshot !== undefined) {
      this.retainFloor = this.volatile.snapshotMeta().index;
    }
    applyBatch(this.volatile, batch);
    this.pending.push(batch);
  }

  /** fsync: every pending batch becomes durable, in order. */
  sync(): void {
    for (const batch of this.pending) {
      this.makeDurable(batch);
    }
    this.pending = [];
  }

  private makeDurable(batch: WriteBatch): void {
    applyBatch(this.durable, batch);
    if (batch.snapshot !== undefined) {
      this.images.set(batch.snapshot.meta.index, batch.snapshot.image);
      this.prune();
    }
    this.syncedBatches++;
  }

  /**
   * The process dies: the first `writtenBack` pending batches reach the disk anyway, the rest
   * are lost, and the volatile view is rebuilt from what is durable.
   */
  crash(writtenBack: number): void {
    const keep = Math.max(0, Math.min(writtenBack, this.pending.length));
    for (let k = 0; k < keep; k++) {
      this.makeDurable(this.pending[k] as WriteBatch);
    }
    this.pending = [];
    this.volatile = cloneStorage(this.durable);
  }

  /** Writes a state-machine image durably at once (a member's own snapshot). */
  saveImage(image: SmImage): void {
    this.images.set(image.index, image);
    this.prune();
  }

  /**
   * Compacts both logs up to `meta.index` (an index with an image). Entries up to it are
   * applied, hence durable, so the durable copy holds them too.
   */
  compact(meta: SnapshotMeta): void {
    if (this.imageFor(meta.index) === undefined) {
      throw new SimInvariantError(`disk: compact to ${meta.index} without an image there`);
    }
    if (meta.index > this.durable.snapshotMeta().index) {
      if (meta.index > this.durable.lastIndex()) {
        throw new SimInvariantError(`disk: compact to ${meta.index} beyond durable last index ${this.durable.lastIndex()}`);
      }
      this.durable.compact(meta);
    }
    if (meta.index > this.volatile.snapshotMeta().index) {
      this.retainFloor = this.volatile.snapshotMeta().index;
      this.volatile.compact(meta);
    }
    this.prune();
  }

  /** The image at `index`: durable, or riding in a pending batch. */
  imageFor(index: LogIndex): SmImage | undefined {
    const durable = this.images.get(index);
    if (durable !== undefined) {
      return durable;
    }
    for (let k = this.pending.length - 1; k >= 0; k--) {
      const snap = (this.pending[k] as WriteBatch).snapshot;
      if (snap !== undefined && snap.meta.index === index) {
        return snap.image;
      }
    }
    return undefined;
  }

  /** The newest durable image (what a restarting member restores from), or undefined. */
  newestDurableImage(): SmImage | undefined {
    let best: SmImage | undefined;
    for (const image of this.images.values()) {
      if (best === undefined || image.index > best.index) {
        best = image;
      }
    }
    return best;
  }

  /** The newest image at or below `index` (a compaction target), or undefined. */
  newestImageAtOrBelow(index: number): SmImage | undefined {
    let best: SmImage | undefined;
    for (const image of this.images.values()) {
      if (image.index <= index && (best === undefined || image.index > best.index)) {
        best = image;
      }
    }
    return best;
  }

  /** Read-only view of the durable log, for the checkers. */
  durableView(): MemoryStorage {
    return this.durable;
  }

  /**
   * Drops images no one can need: older than both the durable log's snapshot and the volatile
   * log's previous snapshot (see retainFloor). Caps the count, never dropping those two.
   */
  private prune(): void {
    const durableFloor = this.durable.snapshotMeta().index;
    const volatileFloor = this.volatile.snapshotMeta().index;
    const floor = Math.min(durableFloor, volatileFloor, this.retainFloor);
    const keep = new Set<number>([durableFloor, volatileFloor, this.retainFloor]);
    for (const index of [...this.images.keys()]) {
      if (index < floor) {
        this.images.delete(index);
      }
    }
    if (this.images.size > MAX_IMAGES) {
      for (const index of [...this.images.keys()].sort((a, b) => a - b)) {
        if (this.images.size <= MAX_IMAGES) {
          break;
        }
        if (!keep.has(index)) {
          this.images.delete(index);
        }
      }
    }
  }
}

function applyBatch(storage: MemoryStorage, batch: WriteBatch): void {
  if (batch.snapshot !== undefined) {
    storage.applySnapshot(batch.snapshot.meta);
  }
  storage.append(batch.entries);
  if (batch.hardState !== undefined) {
    storage.setHardState(batch.hardState);
  }
}

/** A fresh MemoryStorage with the same snapshot, entries and hard state. */
export function cloneStorage(source: MemoryStorage): MemoryStorage {
  const copy = new MemoryStorage();
  const meta = source.snapshotMeta();
  if (meta.index > 0) {
    copy.applySnapshot(meta);
  }
  copy.append(source.allEntries());
  copy.setHardState(source.hardState());
  return copy;
}
