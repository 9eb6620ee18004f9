/**
 * The production driver's and WAL's Scheduler (libs/cluster driver/clock.ts) over the
 * simulation's agenda: `setTimeout` is an event at now + ms of this member's clock, `defer`
 * an event at now, after those already queued for now (as setImmediate runs after the I/O that
 * is ready). One scheduler per member incarnation: a crash kills it, and every timer or task
 * it armed is then dropped, as a dead process's are.
 *
 * Each member's clock runs at its own rate (drift): its monotonic time is `rate` times the
 * world's, and a timer of `ms` fires after ms / rate of world time.
 */
import type { Cancellable, Scheduler } from '@keyval/cluster';

/** What a scheduler needs of the world: its time and its agenda. */
export interface SimAgenda {
  readonly now: number;
  /** Runs `run` at world time `now + delayMs` (integer ms, after events already queued then). */
  schedule(delayMs: number, run: () => void): void;
}

/** Wall-clock origin of every simulated member (2026-01-01T00:00:00Z): wall time is simulated too. */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

export class SimScheduler implements Scheduler {
  private alive = true;
  /** World time when this incarnation started; its monotonic clock starts at `originMs`. */
  private readonly startedAt: number;

  constructor(
    private readonly agenda: SimAgenda,
    /** This member's clock rate (1 = exact). */
    private readonly rate: number,
    /** Its monotonic clock's value at start (any origin, as performance.now's). */
    private readonly originMs: number,
  ) {
    this.startedAt = agenda.now;
  }

  /** The process died: nothing it armed runs any more. */
  kill(): void {
    this.alive = false;
  }

  get isAlive(): boolean {
    return this.alive;
  }

  nowMs(): number {
    return this.originMs + (this.agenda.now - this.startedAt) * this.rate;
  }

  wallMs(): number {
    return this.epochMs(this.nowMs());
  }

  epochMs(monotonicMs: number): number {
    return SIM_EPOCH_MS + Math.round(monotonicMs);
  }

  setTimeout(callback: () => void, ms: number): Cancellable {
    const timer = { cancelled: false };
    this.agenda.schedule(this.worldDelay(ms), () => {
      if (this.alive && !timer.cancelled) {
        callback();
      }
    });
    return { cancel: () => (timer.cancelled = true) };
  }

  setInterval(callback: () => void, ms: number): Cancellable {
    const timer = { cancelled: false };
    const period = Math.max(1, ms);
    const fire = (): void => {
      if (!this.alive || timer.cancelled) {
        return;
      }
      this.agenda.schedule(this.worldDelay(period), fire);
      callback();
    };
    this.agenda.schedule(this.worldDelay(period), fire);
    return { cancel: () => (timer.cancelled = true) };
  }

  defer(task: () => void): void {
    this.agenda.schedule(0, () => {
      if (this.alive) {
        task();
      }
    });
  }

  /** World ms for `ms` of this member's clock: never 0 for a positive delay (no busy loop). */
  private worldDelay(ms: number): number {
    if (!(ms > 0)) {
      return 0;
    }
    return Math.max(1, Math.ceil(ms / this.rate));
  }
}
