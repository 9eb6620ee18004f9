/** Latency samples and their percentiles (exact: every sample is kept, bounded by the run). */
export class LatencyRecorder {
  private samples: number[] = [];
  private sorted = true;

  constructor(private readonly maxSamples = 10_000_000) {}

  record(ms: number): void {
    if (this.samples.length < this.maxSamples) {
      this.samples.push(ms);
      this.sorted = false;
    }
  }

  get count(): number {
    return this.samples.length;
  }

  /** The q-quantile (0..1), nearest rank; NaN without samples. */
  quantile(q: number): number {
    if (this.samples.length === 0) return Number.NaN;
    if (!this.sorted) {
      this.samples.sort((a, b) => a - b);
      this.sorted = true;
    }
    const rank = Math.min(this.samples.length - 1, Math.max(0, Math.ceil(q * this.samples.length) - 1));
    return this.samples[rank] as number;
  }

  merge(other: LatencyRecorder): void {
    for (const s of other.samples) this.record(s);
  }
}
