/**
 * Time for the drivers. The core has no clock: the driver turns monotonic time into ticks.
 * Real members use the monotonic clock (never the wall clock, which jumps); tests may use a
 * manual one.
 */
export interface Clock {
  /** Monotonic milliseconds (arbitrary origin). */
  nowMs(): number;
  /** Wall-clock milliseconds since the epoch (only for timestamps carried in the log). */
  wallMs(): number;
  setInterval(callback: () => void, ms: number): { cancel(): void };
  setTimeout(callback: () => void, ms: number): { cancel(): void };
}

export const MONOTONIC_CLOCK: Clock = {
  nowMs: () => performance.now(),
  wallMs: () => Date.now(),
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    return { cancel: () => clearInterval(handle) };
  },
  setTimeout: (callback, ms) => {
    const handle = setTimeout(callback, ms);
    return { cancel: () => clearTimeout(handle) };
  },
};
