/**
 * The event trace of one run: a running hash of every event (so two runs of a seed can be
 * compared cheaply: same seed, same hash) and a ring of the most recent lines, printed when a
 * run fails. With `verbose`, every line is also handed to a sink as it happens.
 */

/** Lines kept for a failure report by default. */
export const DEFAULT_TRACE_TAIL = 80;
/** Hard cap on the ring, whatever the caller asks. */
export const MAX_TRACE_TAIL = 100_000;

export class Trace {
  private readonly ring: string[];
  private head = 0;
  private count = 0;
  private hashLo = 0x811c9dc5;
  private hashHi = 0x01000193;
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
    this.mix(text);
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

  /** Folds a value into the hash without keeping a line (for high-volume, low-interest events). */
  mixOnly(value: number): void {
    this.hashLo = Math.imul(this.hashLo ^ (value & 0xffff), 0x01000193) >>> 0;
    this.hashHi = Math.imul(this.hashHi ^ (value >>> 16) ^ (value & 0xffff), 0x01000193) >>> 0;
  }

  private mix(text: string): void {
    let lo = this.hashLo;
    let hi = this.hashHi;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 24), 0x01000193);
    }
    this.hashLo = lo >>> 0;
    this.hashHi = hi >>> 0;
  }

  /** The hash of everything logged so far, as 16 hex digits. */
  hash(): string {
    return this.hashHi.toString(16).padStart(8, '0') + this.hashLo.toString(16).padStart(8, '0');
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
