/**
 * The hot-path side of a metric: plain objects the code being measured updates with one call
 * that allocates nothing and looks nothing up (prom-client's own `inc`/`observe` hash the label
 * set and, for histograms, build a closure on every call). A family (`./families`) owns its
 * cells — one per label set, created once when the label values are known — and reads them
 * when Prometheus scrapes.
 *
 *     hot path: cell.inc() / cell.observe(seconds)          scrape: family.get() ─► prom-client text
 */

/** A monotonic count. */
export class CounterCell {
  /** Invariant: never decreases; never negative. */
  value = 0;

  inc(amount = 1): void {
    this.value += amount;
  }
}

/**
 * A histogram of observations: per-bucket counts (not cumulative: bucket i counts values in
 * (bounds[i-1], bounds[i]]), their sum and count. Values above the last bound count only in
 * `count` (the +Inf bucket).
 */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  /** `bounds`: the upper bounds, increasing (the family checks them). */
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) {
      i++;
    }
    if (i < bounds.length) {
      this.counts[i] = (this.counts[i] as number) + 1;
    }
    this.sum += value;
    this.count++;
  }

  /** Observes a duration given in milliseconds, in seconds (the unit Prometheus uses). */
  observeMs(ms: number): void {
    this.observe(ms / 1000);
  }
}
