/**
 * Bookkeeping for callers waiting on the driver: proposals by log index (resolved when the
 * entry at that index applies — with their term, or lost to another's, or as soon as an entry
 * of a later term applies below their index: see `applied`), reads by context (resolved once
 * applied >= their read index). Every waiter has a deadline.
 */
import type { Entry, LogIndex, Term } from '@keyval/raft';
import type { Clock } from './clock';
import { DeadlineExceededError, ProposalLostError } from './driver.errors';

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
  cancelTimer(): void;
}

function makeWaiter<T>(clock: Clock, deadlineMs: number, what: string, onExpire: () => void): { waiter: Waiter<T>; promise: Promise<T> } {
  let resolve!: (value: T) => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  const timer = clock.setTimeout(
    () => {
      onExpire();
      reject(new DeadlineExceededError(what));
    },
    Math.max(0, deadlineMs - clock.nowMs()),
  );
  return { waiter: { resolve, reject, cancelTimer: () => timer.cancel() }, promise };
}

export class ProposalWaiters<R> {
  private readonly byIndex = new Map<number, { term: Term; waiter: Waiter<R>; proposedAtMs: number }>();

  /** `onFailed(count)` hears of every proposal that fails (deadline, lost, failAll), for metrics. */
  constructor(
    private readonly clock: Clock,
    private readonly onFailed: (count: number) => void = () => undefined,
  ) {}

  get size(): number {
    return this.byIndex.size;
  }

  add(index: LogIndex, term: Term, deadlineMs: number): Promise<R> {
    const { waiter, promise } = makeWaiter<R>(this.clock, deadlineMs, `write at index ${index}`, () => {
      this.byIndex.delete(index);
      this.onFailed(1);
    });
    this.byIndex.set(index, { term, waiter, proposedAtMs: this.clock.nowMs() });
    return promise;
  }

  /** When the proposal waiting at `index` was made (clock ms), or undefined when none waits there. */
  proposedAt(index: LogIndex): number | undefined {
    return this.byIndex.get(index)?.proposedAtMs;
  }

  /**
   * Entries applied with their results: resolves or fails the proposals at those indexes, then
   * fails the proposals beyond them that can no longer commit: an applied (so committed) entry
   * at index j of term T means every committed entry after j has a term of at least T (terms
   * never decrease along a log), so a proposal at an index above j made in an earlier term is
   * lost. Without this, a deposed leader's proposals past the new leader's log wait for their
   * deadline whenever no later write reaches their index (all clients waiting on them).
   */
  applied(entries: readonly Entry[], results: readonly R[]): void {
    if (this.byIndex.size === 0) {
      return;
    }
    this.resolveApplied(entries, results);
    const last = entries[entries.length - 1];
    if (last !== undefined && this.byIndex.size > 0) {
      this.failOverrun(last.index, last.term);
    }
  }

  private resolveApplied(entries: readonly Entry[], results: readonly R[]): void {
    entries.forEach((entry, k) => {
      const pending = this.byIndex.get(entry.index);
      if (pending === undefined) {
        return;
      }
      this.byIndex.delete(entry.index);
      pending.waiter.cancelTimer();
      if (pending.term === entry.term) {
        pending.waiter.resolve(results[k] as R);
      } else {
        this.onFailed(1);
        pending.waiter.reject(new ProposalLostError(entry.index));
      }
    });
  }

  /**
   * Fails the proposals above `index` made in a term before `term` (see `applied`). Waiters are
   * added in the member's term order (its term never decreases), so the first one in the map
   * has the oldest term: with none older than `term`, nothing is scanned.
   */
  private failOverrun(index: LogIndex, term: Term): void {
    const oldest = this.byIndex.values().next().value;
    if (oldest === undefined || oldest.term >= term) {
      return;
    }
    for (const [at, pending] of this.byIndex) {
      if (at > index && pending.term < term) {
        this.byIndex.delete(at);
        pending.waiter.cancelTimer();
        this.onFailed(1);
        pending.waiter.reject(new ProposalLostError(at));
      }
    }
  }

  /** Fails every waiter (e.g. the member stopped, or the disk is full). */
  failAll(error: Error): void {
    if (this.byIndex.size > 0) {
      this.onFailed(this.byIndex.size);
    }
    for (const { waiter } of this.byIndex.values()) {
      waiter.cancelTimer();
      waiter.reject(error);
    }
    this.byIndex.clear();
  }
}

export class ReadWaiters {
  /** Reads waiting for the leader to confirm their index. */
  private readonly byContext = new Map<string, Waiter<LogIndex>>();
  /** Confirmed reads waiting for the state machine to reach their index, in arrival order. */
  private waitingApply: { index: LogIndex; waiter: Waiter<LogIndex> }[] = [];

  constructor(private readonly clock: Clock) {}

  get size(): number {
    return this.byContext.size + this.waitingApply.length;
  }

  add(context: string, deadlineMs: number): Promise<LogIndex> {
    const { waiter, promise } = makeWaiter<LogIndex>(this.clock, deadlineMs, 'linearizable read', () => this.byContext.delete(context));
    this.byContext.set(context, waiter);
    return promise;
  }

  /** The leader confirmed `context` at `index`. */
  confirmed(context: string, index: LogIndex, applied: LogIndex): void {
    const waiter = this.byContext.get(context);
    if (waiter === undefined) {
      return;
    }
    this.byContext.delete(context);
    if (applied >= index) {
      waiter.cancelTimer();
      waiter.resolve(index);
    } else {
      this.waitingApply.push({ index, waiter });
    }
  }

  failed(context: string, error: Error): void {
    const waiter = this.byContext.get(context);
    if (waiter !== undefined) {
      this.byContext.delete(context);
      waiter.cancelTimer();
      waiter.reject(error);
    }
  }

  /** The state machine applied up to `applied`: release reads at or below it. */
  appliedTo(applied: LogIndex): void {
    if (this.waitingApply.length === 0) {
      return;
    }
    const still: { index: LogIndex; waiter: Waiter<LogIndex> }[] = [];
    for (const w of this.waitingApply) {
      if (w.index <= applied) {
        w.waiter.cancelTimer();
        w.waiter.resolve(w.index);
      } else {
        still.push(w);
      }
    }
    this.waitingApply = still;
  }

  failAll(error: Error): void {
    for (const waiter of this.byContext.values()) {
      waiter.cancelTimer();
      waiter.reject(error);
    }
    for (const { waiter } of this.waitingApply) {
      waiter.cancelTimer();
      waiter.reject(error);
    }
    this.byContext.clear();
    this.waitingApply = [];
  }
}
