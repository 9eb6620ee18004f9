/**
 * The event trace of one run: a running hash of every event (so two runs of a seed can be
 * compared cheaply: same seed, same hash) and a ring of the most recent lines, printed when a
 * run fails. With `verbose`, every line is also handed to a sink as it happens. Lines are
 * hashed in batches with SHA-1 (native, so cheap even under Jest's instrumentation).
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';

/** Lines kept for a failure report by default. */
export const DEFAULT_TRACE_TAIL = 80;
/** Lines hashed together in one native call. */
const HASH_BATCH_LINES = 512;
/** Hard cap on the ring, whatever the caller asks. */
export const MAX_TRACE_TAIL = 100_000;

export class Trace {
  private readonly ring: string[];
  private head = 0;
  private count = 0;
  private readonly digest: Hash = createHash('sha1');
  private batch: string[] = [];
  private lines = 0;

  constructor(
    readonly tail: number = DEFAULT_TRACE_TAIL,
    private readonly sink: ((line: string) => void) | undefined = undefined,
  ) {
    if (!Number.isSafeInteger(tail) || tail < 1 || tail > MAX_TRACE_TAIL) {
      throw new RangeError(`trace tail must be in [1, ${MAX_TRACE_TAIL}], got ${tail}`);
    }
    this.ring = new Array<string>(tail);
  }

  /** Records one event line, stamped with the simulated time in ms. */
  log(timeMs: number, line: string): void {
    const text = `${pad(timeMs)} ${line}`;
    this.batch.push(text);
    if (this.batch.length >= HASH_BATCH_LINES) {
      this.flush();
    }
    this.ring[this.head] = text;
    this.head = (this.head + 1) % this.tail;
    if (this.count < this.tail) {
      this.count++;
    }
    this.lines++;
    if (this.sink !== undefined) {
      this.sink(text);
    }
  }

  private flush(): void {
    if (this.batch.length > 0) {
      this.digest.update(this.batch.join('\n'));
      this.digest.update('\n');
      this.batch = [];
    }
  }

  /** The hash of everything logged so far, as 16 hex digits. */
  hash(): string {
    this.flush();
    return this.digest.copy().digest('hex').slice(0, 16);
  }

  /** How many lines were logged in total. */
  get lineCount(): number {
    return this.lines;
  }

  /** The most recent lines, oldest first. */
  recent(): string[] {
    const out: string[] = [];
    const start = (this.head - this.count + this.tail) % this.tail;
    for (let k = 0; k < this.count; k++) {
      out.push(this.ring[(start + k) % this.tail] as string);
    }
    return out;
  }
}

function pad(timeMs: number): string {
  const s = String(timeMs);
  return s.length >= 7 ? s : ' '.repeat(7 - s.length) + s;
}
