/**
 * A Scheduler whose time moves only when a test says so: timers and deferred tasks run in
 * (time, order of scheduling) order, the way a seeded simulation's event queue runs them
 * (libs/raft-sim event-queue.ts). Between two tasks it lets the promises they started
 * settle, since the driver's storage and state machine are asynchronous.
 */
import type { Cancellable, Scheduler } from '../driver/clock';

interface Task {
  readonly at: number;
  readonly seq: number;
  readonly run: () => void;
  live: boolean;
  /** For an interval: its period, ms. */
  readonly everyMs?: number;
}

export class ManualScheduler implements Scheduler {
  private now = 0;
  private seq = 0;
  private tasks: Task[] = [];
  /** Timers armed so far (setTimeout and setInterval). */
  timersArmed = 0;

  constructor(private readonly epochOriginMs = 1_700_000_000_000) {}

  nowMs(): number {
    return this.now;
  }

  wallMs(): number {
    return this.epochOriginMs + this.now;
  }

  epochMs(monotonicMs: number): number {
    return this.epochOriginMs + monotonicMs;
  }

  setTimeout(callback: () => void, ms: number): Cancellable {
    this.timersArmed++;
    return this.add(this.now + Math.max(0, ms), callback);
  }

  setInterval(callback: () => void, ms: number): Cancellable {
    this.timersArmed++;
    return this.add(this.now + Math.max(1, ms), callback, Math.max(1, ms));
  }

  defer(task: () => void): void {
    this.add(this.now, task);
  }

  /** Runs every task due within the next `ms` (and those they schedule), then sets the time to now + ms. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await settle();
    for (let next = this.next(end); next !== undefined; next = this.next(end)) {
      next.live = false;
      this.now = Math.max(this.now, next.at);
      if (next.everyMs !== undefined) {
        const again = this.add(next.at + next.everyMs, next.run, next.everyMs);
        void again;
      }
      next.run();
      await settle();
    }
    this.now = end;
  }

  private add(at: number, run: () => void, everyMs?: number): Cancellable {
    const task: Task = { at, seq: this.seq++, run, live: true, everyMs };
    this.tasks.push(task);
    return { cancel: () => void (task.live = false) };
  }

  private next(end: number): Task | undefined {
    this.tasks = this.tasks.filter((t) => t.live);
    let best: Task | undefined;
    for (const t of this.tasks) {
      if (t.at <= end && (best === undefined || t.at < best.at || (t.at === best.at && t.seq < best.seq))) best = t;
    }
    return best;
  }
}

/** Lets the promise chains started by a task run to their next real wait. */
async function settle(): Promise<void> {
  for (let k = 0; k < 3; k++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
