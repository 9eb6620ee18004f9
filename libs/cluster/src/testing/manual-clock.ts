/** A clock tests move by hand (test helper): timers fire, in order, when time passes them. */
import type { Clock } from '../driver/clock';

interface Timer {
  at: number;
  readonly every: number | undefined;
  readonly callback: () => void;
  cancelled: boolean;
}

export class ManualClock implements Clock {
  private now = 0;
  private readonly timers: Timer[] = [];

  nowMs(): number {
    return this.now;
  }

  wallMs(): number {
    return 1_700_000_000_000 + this.now;
  }

  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    return this.add({ at: this.now + ms, every: undefined, callback, cancelled: false });
  }

  setInterval(callback: () => void, ms: number): { cancel(): void } {
    return this.add({ at: this.now + ms, every: ms, callback, cancelled: false });
  }

  /** Moves time forward by `ms`, firing due timers in time order; awaits what they start between timers. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms;
    for (;;) {
      const next = this.timers.filter((t) => !t.cancelled && t.at <= until).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) {
        break;
      }
      this.now = next.at;
      if (next.every === undefined) {
        next.cancelled = true;
      } else {
        next.at += next.every;
      }
      next.callback();
      await settle();
    }
    this.now = until;
  }

  private add(timer: Timer): { cancel(): void } {
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }
}

/** Lets promise chains started by a timer run to completion (a few turns of the microtask queue and I/O). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}
