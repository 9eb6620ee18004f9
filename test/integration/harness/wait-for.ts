/**
 * Condition-based waiting for the integration tests: poll a probe with short sleeps until it
 * yields a value or a deadline passes. Tests never sleep a fixed long time (STYLE.md).
 */

/** A deadline passed before the awaited condition held; names what was awaited. */
export class WaitTimeoutError extends Error {
  constructor(
    readonly what: string,
    readonly timeoutMs: number,
    readonly lastError: unknown,
  ) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}${lastError === undefined ? '' : ` (last error: ${describe(lastError)})`}`);
    this.name = 'WaitTimeoutError';
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export interface WaitOptions {
  /** Give up after this long, ms. */
  readonly timeoutMs: number;
  /** Pause between probes, ms (default 25). */
  readonly intervalMs?: number;
  /** What is awaited, for the timeout's message. */
  readonly what: string;
}

/** Most probes one wait may run, whatever the interval (a limit on everything). */
const PROBES_MAX = 100_000;

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `probe` until it returns something other than `undefined` (or `false`), and returns
 * that. A probe that throws counts as "not yet"; the last error is named in the timeout.
 * Throws WaitTimeoutError once `timeoutMs` has passed.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, options: WaitOptions): Promise<T> {
  const deadline = performance.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 25;
  let lastError: unknown;
  for (let probes = 0; probes < PROBES_MAX; probes++) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) {
        return value;
      }
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      break;
    }
    await sleep(Math.min(interval, left));
  }
  throw new WaitTimeoutError(options.what, options.timeoutMs, lastError);
}

/** Milliseconds elapsed since `startMs` (a `performance.now()` reading), rounded. */
export function elapsedMs(startMs: number): number {
  return Math.round(performance.now() - startMs);
}
