/**
 * Time and deferred tasks for the drivers, from one injected place. The core has no clock: the
 * driver turns monotonic time into ticks. Real members use the monotonic clock (never the wall
 * clock, which jumps) and Node's timers; a test, or a seeded simulation, passes its own
 * Scheduler and so decides when every timer fires and every deferred task runs.
 *
 *     Scheduler ──nowMs / setTimeout / defer──▶ ticker, Ready loop, waiters, persistence back-off,
 *                                               apply timing, snapshot coordinator, forwarding
 *
 * No part of libs/cluster's driver (this folder) reads `performance.now`, `Date.now`,
 * `setTimeout` or `setImmediate` itself: REAL_SCHEDULER below is the only place they are
 * named, and lint enforces it. A seeded simulation implements Scheduler over its event queue
 * (setTimeout: an event at now + ms; defer: an event at now, after those already queued for
 * now), as testing/manual-scheduler.ts does.
 */

/** A timer that can be cancelled (cancelling a fired or cancelled one does nothing). */
export interface Cancellable {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds (arbitrary origin): the one kind of time inside a member. */
  nowMs(): number;
  /** Wall-clock milliseconds since the epoch (only for timestamps carried in the log). */
  wallMs(): number;
  /** A periodic timer for background work; the real one does not keep the process alive. */
  setInterval(callback: () => void, ms: number): Cancellable;
  setTimeout(callback: () => void, ms: number): Cancellable;
}

/** A Clock that also runs deferred tasks: everything the driver's parts need of time. */
export interface Scheduler extends Clock {
  /**
   * Runs `task` once the current turn is over, after the I/O that is ready (as setImmediate):
   * how the Ready loop batches what one turn produced, and how a fired timer lets messages
   * that arrived meanwhile go first.
   */
  defer(task: () => void): void;
  /** The wall-clock time (ms since the epoch) of the monotonic instant `monotonicMs` (for exported spans). */
  epochMs(monotonicMs: number): number;
}

export const REAL_SCHEDULER: Scheduler = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    return { cancel: () => clearTimeout(handle) };
  },
  defer: (task) => {
    setImmediate(task);
  },
  epochMs: (monotonicMs) => performance.timeOrigin + monotonicMs,
};

/** The real clock (the same object as REAL_SCHEDULER). */
export const MONOTONIC_CLOCK: Scheduler = REAL_SCHEDULER;

/** Resolves after `ms` of `scheduler` time. */
export function sleep(scheduler: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => scheduler.setTimeout(resolve, Math.max(0, ms)));
}
