/**
 * Physical compaction of the RocksDB history: after a compaction at C is applied (which
 * already makes reads below C fail), the versions no read at or above C can reach and the
 * revision records below C are deleted, in bounded steps.
 *
 *     apply batch commits C ──► schedule(C) ──► step: read ≤ stepRevisions revision records from
 *                                              `next`, delete what they make unreachable, save
 *                                              progress (one write batch) ──► yield ──► step ...
 *                                                                              └─ done: C; next target
 *
 * A step reads revision records [done, target] (engine/history.ts compactionDeletes): each
 * write names the version it replaced, each delete below the target its tombstone. A step
 * takes whole revision chunks until it holds `stepWrites` writes (a chunk, one apply batch's
 * records, is never split: its size is what apply already handled in one go). Steps are
 * independent and idempotent, and the progress (0x01 'P') is written in the same batch as the
 * deletes, so a restart resumes where the last step ended. Between steps the event loop runs
 * (apply, replication, reads): a step holds it only to decode and plan its records. Deletes
 * touch nothing a read at or above C sees, nor anything apply writes (revisions above C), so
 * steps need no coordination with either.
 */
import type { RevisionRecord } from '../engine/history';
import { compactionDeletes } from '../engine/history';
import { invariant } from '../errors';
import type { CompactionProgress } from './key-layout';
import { COMPACTION_KEY, PREFIX_REVISION, decodeRevisionChunk, encodeCompactionProgress, revisionKey, revisionOfKey, versionKey } from './key-layout';
import type { RocksDatabase, RocksWrite } from './rocks-database';

export interface RocksCompactorOptions {
  /** Writes (of revision records) planned per step; a step takes at least one record. */
  readonly stepWrites: number;
  /** Bytes of revision records read per native iterator call. */
  readonly stepReadBytes: number;
  /** Waits between two steps (default: the next turn of the event loop, after I/O). */
  readonly pause?: () => Promise<void>;
  /** Called once if a step fails (a storage failure: fatal to the machine). */
  readonly onFailure: (error: unknown) => void;
}

/** The compactor a waiter waited on was stopped (the database closed or was replaced). */
export class CompactorStoppedError extends Error {
  constructor() {
    super('the compaction stopped: the database was closed or replaced');
    this.name = 'CompactorStoppedError';
  }
}

const REVISIONS_END = Buffer.of(PREFIX_REVISION + 1);

const NEXT_TURN = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class RocksCompactor {
  private progress: CompactionProgress;
  /** The latest compacted revision applied (the work to reach). */
  private target: number;
  private running: Promise<void> | undefined;
  private stopped = false;
  private wakeOnStop: (() => void) | undefined;
  private failure: unknown;
  private readonly waiters: Array<{ revision: number; resolve: () => void; reject: (error: unknown) => void }> = [];
  /** Steps run and versions deleted (tests, metrics). */
  readonly counters = { steps: 0, versionsDeleted: 0, chunksDeleted: 0 };

  constructor(
    private readonly db: RocksDatabase,
    progress: CompactionProgress,
    private readonly options: RocksCompactorOptions,
  ) {
    this.progress = progress;
    this.target = progress.done;
    if (progress.running !== undefined) {
      // A compaction a restart interrupted: finish it.
      this.schedule(progress.running.target);
    }
  }

  /** The target of the last finished compaction. */
  get done(): number {
    return this.progress.done;
  }

  /** Starts (or extends) the work up to the compacted revision `revision`. */
  schedule(revision: number): void {
    if (revision <= this.target || this.stopped) {
      return;
    }
    this.target = revision;
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once the work for the compacted revision `revision` is done. */
  whenDone(revision: number): Promise<void> {
    if (this.progress.done >= revision) {
      return Promise.resolve();
    }
    if (this.failure !== undefined) {
      return Promise.reject(this.failure);
    }
    return new Promise((resolve, reject) => this.waiters.push({ revision, resolve, reject }));
  }

  /**
   * Stops after the step in flight (the work resumes from the saved progress on reopen);
   * waiters get CompactorStoppedError.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeOnStop?.();
    await this.running;
    for (const waiter of this.waiters.splice(0)) {
      waiter.reject(new CompactorStoppedError());
    }
  }

  private async run(): Promise<void> {
    try {
      while (!this.stopped && this.progress.done < this.target) {
        const running = this.progress.running ?? { target: this.target, next: Math.max(0, this.progress.done) };
        await this.step(running.target, running.next);
        this.settleWaiters();
        if (!this.stopped) {
          // The pause ends early when the compactor stops.
          await Promise.race([(this.options.pause ?? NEXT_TURN)(), new Promise<void>((resolve) => (this.wakeOnStop = resolve))]);
          this.wakeOnStop = undefined;
        }
      }
    } catch (error) {
      this.failure = error;
      for (const waiter of this.waiters.splice(0)) {
        waiter.reject(error);
      }
      this.options.onFailure(error);
    }
  }

  /**
   * One step of the compaction at `target`, reading revision chunks from the one that holds
   * `next`: the records in [next, target] plan the deletes; a chunk whose every revision is
   * below the target is deleted itself.
   */
  private async step(target: number, next: number): Promise<void> {
    const iterator = this.db.iterator({ gte: revisionKey(next), lt: REVISIONS_END, batchBytes: this.options.stepReadBytes, fillCache: false });
    const records: RevisionRecord[] = [];
    const chunks: number[] = [];
    let lastRead: number | undefined;
    let finished = false;
    let writes = 0;
    try {
      while (writes < this.options.stepWrites) {
        const entry = await iterator.next();
        if (entry === undefined) {
          finished = true;
          break;
        }
        lastRead = revisionOfKey(entry.key);
        for (const record of decodeRevisionChunk(entry.key, entry.value)) {
          if (record.revision >= next && record.revision <= target) {
            records.push(record);
            writes += record.writes.length;
          }
        }
        if (lastRead < target) {
          chunks.push(lastRead);
        } else {
          finished = true;
          break;
        }
      }
    } finally {
      await iterator.end();
    }
    const deletes = compactionDeletes(records, target);
    const ops: RocksWrite[] = [];
    for (const version of deletes.versions) {
      ops.push({ type: 'del', key: versionKey(version.key, version.revision) });
    }
    for (const chunk of chunks) {
      ops.push({ type: 'del', key: revisionKey(chunk) });
    }
    invariant(finished || lastRead !== undefined, 'a compaction step read nothing but did not finish');
    const progress: CompactionProgress = finished ? { done: target, running: undefined } : { done: this.progress.done, running: { target, next: (lastRead as number) + 1 } };
    ops.push({ type: 'put', key: COMPACTION_KEY, value: encodeCompactionProgress(progress) });
    await this.db.write(ops, false);
    this.progress = progress;
    this.counters.steps++;
    this.counters.versionsDeleted += deletes.versions.length;
    this.counters.chunksDeleted += chunks.length;
  }

  private settleWaiters(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const waiter = this.waiters[i] as (typeof this.waiters)[number];
      if (this.progress.done >= waiter.revision) {
        this.waiters.splice(i, 1);
        waiter.resolve();
      }
    }
  }
}
