/**
 * One read barrier shared by every caller that arrived before it started. A leader confirms
 * it still leads (and has applied what was committed) before each lease renewal; thousands of
 * keepalives a second each asking the driver for their own barrier cost a read waiter, a
 * deadline timer and a ReadIndex context apiece. Here a caller joins the next barrier to start:
 *
 *     arrive ─► none running? ─► start now (this caller and those arriving in the same turn)
 *            └► one running  ─► wait for it to end, then share the next one
 *
 * A barrier that started after a caller arrived proves for that caller what its own would
 * have: leadership confirmed and everything committed before the caller's arrival applied. A
 * barrier already running when a caller arrives may have been confirmed by a round sent before
 * it arrived, so a caller never joins a barrier that is already running.
 */
export class SharedBarrier {
  private running = false;
  private next: { promise: Promise<void>; resolve: () => void; reject: (error: unknown) => void; deadlineMs: number } | undefined;

  /** `barrier(deadlineMs)` is the member's own (a linearizable read's barrier). */
  constructor(private readonly barrier: (deadlineMs: number) => Promise<void>) {}

  /** Resolves once a barrier that started after this call passed; rejects with that barrier's error. */
  pass(deadlineMs: number): Promise<void> {
    let next = this.next;
    if (next === undefined) {
      let resolve!: () => void;
      let reject!: (error: unknown) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      next = { promise, resolve, reject, deadlineMs };
      this.next = next;
      if (!this.running) {
        // Started once this turn's synchronous work is done, so callers of the same turn share it.
        queueMicrotask(() => this.start());
      }
    } else {
      // The shared barrier gives up at its least patient caller's deadline, so none waits past
      // its own; a caller with time left tries again (a new barrier).
      next.deadlineMs = Math.min(next.deadlineMs, deadlineMs);
    }
    return next.promise;
  }

  private start(): void {
    const batch = this.next;
    if (batch === undefined || this.running) {
      return;
    }
    this.next = undefined;
    this.running = true;
    this.barrier(batch.deadlineMs).then(
      () => this.finish(() => batch.resolve()),
      (error: unknown) => this.finish(() => batch.reject(error)),
    );
  }

  private finish(settle: () => void): void {
    this.running = false;
    settle();
    if (this.next !== undefined) {
      this.start();
    }
  }
}
