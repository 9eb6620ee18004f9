/**
 * The driver's apply stage: committed entries queue here and are applied in the background,
 * in order, one state-machine call at a time, overlapping the next Ready's disk write.
 * Batches queued while a call runs are merged into the next call (up to a bound): fewer,
 * larger state-machine writes under load.
 *
 *     Ready.committedEntries ─► enqueue ─► [queue] ─► merge ≤ MAX_APPLY_BATCH_ENTRIES ─► apply ─► onApplied
 *                                                       one call at a time, in order
 */
import type { Entry } from '@keyval/raft';
import type { Clock } from './clock';

/** Most entries merged into one apply call. */
export const MAX_APPLY_BATCH_ENTRIES = 4_096;

export interface ApplyQueueHooks<R> {
  /** Applies one batch (in order); one result per entry. */
  apply(entries: readonly Entry[]): Promise<readonly R[]>;
  /** After each batch, with its results. */
  applied(entries: readonly Entry[], results: readonly R[], elapsedMs: number): void;
  /** A failed apply: the member must stop. Nothing is applied after it. */
  failed(error: Error): void;
  /** True once the member stopped: queued batches are not applied. */
  stopped(): boolean;
}

export class ApplyQueue<R> {
  private readonly queue: (readonly Entry[])[] = [];
  private running = false;
  /** An apply failed: nothing is applied after it. */
  private broken = false;
  private readonly waiters: (() => void)[] = [];
  /** Committed entries queued and not yet applied. */
  backlog = 0;

  constructor(
    private readonly hooks: ApplyQueueHooks<R>,
    /** Times each apply call (the driver's scheduler). */
    private readonly clock: Pick<Clock, 'nowMs'>,
  ) {}

  enqueue(entries: readonly Entry[]): void {
    if (this.broken || this.hooks.stopped()) {
      return; // the member is stopping: nothing more is applied
    }
    this.queue.push(entries);
    this.backlog += entries.length;
    if (!this.running) {
      this.running = true;
      void this.loop();
    }
  }

  /** Resolves once every queued batch has been applied, or dropped after a failure or a stop. */
  drained(): Promise<void> {
    if (!this.running && this.queue.length === 0) {
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private async loop(): Promise<void> {
    try {
      for (let batch = this.next(); batch !== undefined && !this.hooks.stopped(); batch = this.next()) {
        const began = this.clock.nowMs();
        const results = await this.hooks.apply(batch);
        this.backlog -= batch.length;
        this.hooks.applied(batch, results, this.clock.nowMs() - began);
      }
    } catch (error) {
      this.broken = true;
      this.hooks.failed(error instanceof Error ? error : new Error(String(error)));
    } finally {
      this.running = false;
      if (this.broken || this.hooks.stopped()) {
        // What is left is never applied: drained() must not wait for it.
        this.queue.length = 0;
        this.backlog = 0;
      }
      for (const waiter of this.waiters.splice(0)) {
        waiter();
      }
    }
  }

  /** The queued batches, merged into one (bounded). */
  private next(): readonly Entry[] | undefined {
    const first = this.queue.shift();
    if (first === undefined || this.queue.length === 0) {
      return first;
    }
    const merged = [...first];
    while (this.queue.length > 0 && merged.length + (this.queue[0] as readonly Entry[]).length <= MAX_APPLY_BATCH_ENTRIES) {
      merged.push(...(this.queue.shift() as readonly Entry[]));
    }
    return merged;
  }
}
