/**
 * Turns monotonic time into core ticks with one timer, armed for the core's next deadline
 * (its heartbeat, check-quorum or election timeout: RaftNode.ticksUntilDeadline), instead of
 * a timer every tick. An idle follower then wakes about once per election timeout rather than
 * a hundred times a second, and a write no longer shares the event loop with tick turns that
 * have nothing to do.
 *
 *     catchUp() ── now - lastTickAt ──▶ tick() × elapsed (bounded) ──▶ rearm()
 *        ▲  (the driver calls it after stepping messages, before lease reads,
 *        │   and when the timer fires; the time it reads is the clock's)
 *     timer ── fires at lastTickAt + ticksUntilDeadline × tickMs ──┘
 *
 * Ticks between deadlines change nothing visible in the core (tick-deadline.spec.ts in
 * @keyval/raft), so applying them late, all at once, is the same as applying them on time.
 * A deadline only moves earlier through a role change, and every Ready is followed by rearm().
 */
import type { Clock } from './clock';

/** The part of the core the ticker drives. */
export interface Tickable {
  tick(): void;
  ticksUntilDeadline(): number;
}

export interface TickerOptions {
  readonly clock: Clock;
  readonly tickMs: number;
  /** Called when the timer fires, after the elapsed ticks were applied (the driver runs its Ready loop). */
  readonly onDeadline: () => void;
  /**
   * Defers the catch-up of a fired timer to after this turn's I/O, so messages that arrived
   * while the process was stalled (GC, a loaded machine) are stepped before a follower counts
   * the stall against its election timeout (Scheduler.defer).
   */
  readonly defer: (task: () => void) => void;
}

/** Most ticks applied at once after a long stall (the rest are dropped: their effects are the same). */
const CATCH_UP_TICKS_MAX = 10_000;
/** The timer is armed at least this often even with no deadline (a learner), so time never goes stale for long. */
const IDLE_WAKE_MS_MAX = 1_000;

export class Ticker {
  private node: Tickable | undefined;
  /** The monotonic time of the last whole tick applied. */
  private lastTickAt = 0;
  private timer: { cancel(): void } | undefined;
  /** When the armed timer fires (monotonic ms); Infinity when none is armed. */
  private armedAt = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(private readonly options: TickerOptions) {}

  /** Starts counting time for `node` from now and arms the first deadline. */
  start(node: Tickable): void {
    this.node = node;
    this.lastTickAt = this.options.clock.nowMs();
    this.rearm();
  }

  /** Applies the ticks that elapsed since the last one (bounded after a stall), then rearms. */
  catchUp(): void {
    const node = this.node;
    if (node === undefined || this.stopped) {
      return;
    }
    const tickMs = this.options.tickMs;
    const due = Math.floor((this.options.clock.nowMs() - this.lastTickAt) / tickMs);
    if (due > 0) {
      this.lastTickAt += due * tickMs;
      const ticks = Math.min(due, CATCH_UP_TICKS_MAX);
      for (let k = 0; k < ticks; k++) {
        node.tick();
      }
    }
    this.rearm();
  }

  /** Arms the timer for the core's next deadline if that is earlier than the armed one. */
  rearm(): void {
    const node = this.node;
    if (node === undefined || this.stopped) {
      return;
    }
    const ticks = node.ticksUntilDeadline();
    const now = this.options.clock.nowMs();
    const deadline = Number.isFinite(ticks) ? this.lastTickAt + ticks * this.options.tickMs : now + IDLE_WAKE_MS_MAX;
    const at = Math.min(deadline, now + IDLE_WAKE_MS_MAX);
    if (at >= this.armedAt) {
      // The armed timer fires first; it will find what is due then and rearm.
      return;
    }
    this.timer?.cancel();
    this.armedAt = at;
    this.timer = this.options.clock.setTimeout(this.fired, Math.max(0, at - now));
  }

  private readonly fired = (): void => {
    this.timer = undefined;
    this.armedAt = Number.POSITIVE_INFINITY;
    if (this.stopped) {
      return;
    }
    this.options.defer(() => {
      if (!this.stopped) {
        this.catchUp();
        this.options.onDeadline();
      }
    });
  };

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }
}
