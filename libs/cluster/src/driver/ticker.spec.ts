import type { Clock } from './clock';
import { Ticker } from './ticker';
import type { Tickable } from './ticker';

/** A clock whose time moves only when the test says, with timers fired by advance(). */
class ManualClock implements Clock {
  now = 1_000;
  private timers: { at: number; callback: () => void; live: boolean }[] = [];
  armed = 0;
  nowMs(): number {
    return this.now;
  }
  wallMs(): number {
    return this.now;
  }
  setInterval(): { cancel(): void } {
    throw new Error('the ticker uses no interval timer');
  }
  setTimeout(callback: () => void, ms: number): { cancel(): void } {
    const timer = { at: this.now + ms, callback, live: true };
    this.timers.push(timer);
    this.armed++;
    return { cancel: () => void (timer.live = false) };
  }
  pending(): number[] {
    return this.timers.filter((t) => t.live).map((t) => t.at);
  }
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.live && t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (next === undefined) break;
      next.live = false;
      this.now = Math.max(this.now, next.at);
      next.callback();
    }
    this.now = end;
  }
}

/** A core with a heartbeat every `every` ticks. */
class Beating implements Tickable {
  ticks = 0;
  beats = 0;
  sinceBeat = 0;
  constructor(public every: number) {}
  tick(): void {
    this.ticks++;
    if (++this.sinceBeat >= this.every) {
      this.sinceBeat = 0;
      this.beats++;
    }
  }
  ticksUntilDeadline(): number {
    return Number.isFinite(this.every) ? this.every - this.sinceBeat : Number.POSITIVE_INFINITY;
  }
}

function setup(every: number): { clock: ManualClock; core: Beating; ticker: Ticker; deadlines: () => number } {
  const clock = new ManualClock();
  const core = new Beating(every);
  let deadlines = 0;
  const ticker = new Ticker({ clock, tickMs: 10, onDeadline: () => deadlines++, defer: (task) => task() });
  ticker.start(core);
  return { clock, core, ticker, deadlines: () => deadlines };
}

describe('Ticker', () => {
  it('wakes once per deadline, not once per tick, and applies every elapsed tick', () => {
    const { clock, core, deadlines } = setup(5);
    clock.advance(1_000);
    expect(core.ticks).toBe(100);
    expect(core.beats).toBe(20);
    expect(deadlines()).toBe(20);
    expect(clock.armed).toBe(21);
  });

  it('catches up at once, in whole ticks, when asked between deadlines', () => {
    const { clock, core, ticker } = setup(50);
    clock.advance(37);
    ticker.catchUp();
    expect(core.ticks).toBe(3);
    clock.advance(3);
    ticker.catchUp();
    expect(core.ticks).toBe(4);
  });

  it('arms an earlier timer when the deadline moves earlier, and keeps the armed one when it moves later', () => {
    const { clock, core, ticker } = setup(50);
    expect(clock.pending()).toEqual([1_500]);
    core.every = 2;
    ticker.rearm();
    expect(clock.pending()).toEqual([1_020]);
    core.every = 100;
    ticker.rearm();
    expect(clock.pending()).toEqual([1_020]);
    clock.advance(20);
    expect(clock.pending()).toEqual([1_000 + 1_000]);
  });

  it('wakes at least once a second with no deadline, and bounds the ticks applied after a long stall', () => {
    const { clock, core } = setup(Number.POSITIVE_INFINITY);
    expect(clock.pending()).toEqual([2_000]);
    clock.now += 3_600_000;
    clock.advance(0);
    expect(core.ticks).toBe(10_000);
  });

  it('stops: no timer fires afterwards and catch-up does nothing', () => {
    const { clock, core, ticker, deadlines } = setup(5);
    ticker.stop();
    clock.advance(1_000);
    ticker.catchUp();
    expect(core.ticks).toBe(0);
    expect(deadlines()).toBe(0);
  });
});
