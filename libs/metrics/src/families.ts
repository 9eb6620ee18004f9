/**
 * Metric families on a prom-client Registry, backed by the cells of `./cells` for what the hot
 * path updates, and by read functions for what is a state (read when Prometheus scrapes).
 * prom-client does the naming checks, the registry and the text exposition; the families only
 * decide where the numbers come from.
 *
 *     CounterFamily.cell(labels) ─► CounterCell      scrape: Counter.collect() copies the cells
 *     HistogramFamily.cell(labels) ─► HistogramCell   scrape: get() turns the cells into buckets
 *     gaugeFamily(read)                               scrape: Gauge.collect() calls read()
 */
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';
import { CounterCell, HistogramCell } from './cells';

export type Labels<L extends string> = Readonly<Record<L, string>>;

/** Most label sets one family holds (a limit on everything: label values come from peers and members). */
export const LABEL_SETS_MAX = 1024;

/** A label set as one string (names sorted), to find its cell. */
function labelKey(labels: Readonly<Record<string, string>>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
}

/** The cells of a family, one per label set, found at setup time (never on the hot path). */
class CellSet<L extends string, C> {
  readonly entries: { readonly labels: Labels<L>; readonly cell: C }[] = [];
  private readonly byKey = new Map<string, C>();

  constructor(
    private readonly name: string,
    private readonly make: () => C,
  ) {}

  get(labels: Labels<L>): C {
    const key = labelKey(labels);
    const found = this.byKey.get(key);
    if (found !== undefined) {
      return found;
    }
    if (this.entries.length >= LABEL_SETS_MAX) {
      throw new RangeError(`metric ${this.name}: more than ${LABEL_SETS_MAX} label sets`);
    }
    const cell = this.make();
    this.entries.push({ labels: { ...labels }, cell });
    this.byKey.set(key, cell);
    return cell;
  }
}

export interface FamilyOptions<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

/** A counter family whose values live in CounterCells (or, `type: 'gauge'`, a gauge that only grows, as etcd has a few). */
export class CounterFamily<L extends string = never> {
  private readonly cells: CellSet<L, CounterCell>;

  constructor(registry: Registry, options: FamilyOptions<L>, type: 'counter' | 'gauge' = 'counter') {
    const cells = new CellSet<L, CounterCell>(options.name, () => new CounterCell());
    this.cells = cells;
    const config = { name: options.name, help: options.help, labelNames: [...(options.labelNames ?? [])], registers: [registry] };
    if (type === 'counter') {
      new Counter<L>({
        ...config,
        collect() {
          this.reset();
          for (const { labels, cell } of cells.entries) this.inc(labels as Partial<Record<L, string>>, cell.value);
        },
      });
    } else {
      new Gauge<L>({
        ...config,
        collect() {
          this.reset();
          for (const { labels, cell } of cells.entries) this.set(labels as Partial<Record<L, string>>, cell.value);
        },
      });
    }
  }

  /** The cell of one label set (created, at 0, on first use: call it once and keep the cell). */
  cell(labels: Labels<L>): CounterCell {
    return this.cells.get(labels);
  }
}

/** prom-client's Histogram with its values read from HistogramCells. */
class CellHistogram<L extends string> extends Histogram<L> {
  private readonly familyName: string;
  private readonly familyHelp: string;

  constructor(
    config: { name: string; help: string; labelNames: L[]; buckets: number[]; registers: Registry[] },
    private readonly source: CellSet<L, HistogramCell>,
  ) {
    super(config);
    this.familyName = config.name;
    this.familyHelp = config.help;
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<L>['get']>>> {
    return this.getForPromString();
  }

  /** What prom-client's Registry reads to write the text format (it prefers this to get()). */
  async getForPromString(): Promise<Awaited<ReturnType<Histogram<L>['get']>>> {
    const name = this.familyName;
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const { labels, cell } of this.source.entries) {
      let cumulative = 0;
      for (let i = 0; i < cell.bounds.length; i++) {
        cumulative += cell.counts[i] as number;
        values.push({ labels: { ...labels, le: cell.bounds[i] as number }, value: cumulative, metricName: `${name}_bucket` });
      }
      values.push({ labels: { ...labels, le: '+Inf' }, value: cell.count, metricName: `${name}_bucket` });
      values.push({ labels: { ...labels }, value: cell.sum, metricName: `${name}_sum` });
      values.push({ labels: { ...labels }, value: cell.count, metricName: `${name}_count` });
    }
    // prom-client's declared types say `type` is an enum; at run time (and in its own
    // histograms) it is the exposition's word.
    return { name, help: this.familyHelp, type: 'histogram', values, aggregator: 'sum' } as unknown as Awaited<ReturnType<Histogram<L>['get']>>;
  }
}

export interface HistogramOptions<L extends string> extends FamilyOptions<L> {
  /** Upper bounds, increasing (the +Inf bucket is implicit). */
  readonly buckets: readonly number[];
}

/** A histogram family whose observations live in HistogramCells. */
export class HistogramFamily<L extends string = never> {
  private readonly cells: CellSet<L, HistogramCell>;

  constructor(registry: Registry, options: HistogramOptions<L>) {
    const buckets = [...options.buckets];
    for (let i = 1; i < buckets.length; i++) {
      if (!((buckets[i] as number) > (buckets[i - 1] as number))) {
        throw new RangeError(`metric ${options.name}: buckets must increase`);
      }
    }
    this.cells = new CellSet<L, HistogramCell>(options.name, () => new HistogramCell(buckets));
    new CellHistogram<L>({ name: options.name, help: options.help, labelNames: [...(options.labelNames ?? [])], buckets, registers: [registry] }, this.cells);
  }

  cell(labels: Labels<L>): HistogramCell {
    return this.cells.get(labels);
  }
}

/** A sample of a gauge: its labels and value. */
export type GaugeSample<L extends string> = readonly [labels: Labels<L>, value: number];

/**
 * A gauge read when scraped: `read` returns the current samples (a state: leader, indexes,
 * sizes). A `read` that throws or rejects yields no sample for this scrape.
 */
export function gaugeFamily<L extends string = never>(
  registry: Registry,
  options: FamilyOptions<L>,
  read: () => Iterable<GaugeSample<L>> | Promise<Iterable<GaugeSample<L>>>,
): void {
  new Gauge<L>({
    name: options.name,
    help: options.help,
    labelNames: [...(options.labelNames ?? [])],
    registers: [registry],
    async collect() {
      this.reset();
      let samples: Iterable<GaugeSample<L>>;
      try {
        samples = await read();
      } catch {
        return;
      }
      for (const [labels, value] of samples) this.set(labels as Partial<Record<L, string>>, value);
    },
  });
}

/**
 * A counter whose value is a count the code keeps anyway (read when scraped, like a gauge,
 * but typed counter: it only grows, so `rate()` applies).
 */
export function counterFamilyOf<L extends string = never>(registry: Registry, options: FamilyOptions<L>, read: () => Iterable<GaugeSample<L>>): void {
  new Counter<L>({
    name: options.name,
    help: options.help,
    labelNames: [...(options.labelNames ?? [])],
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels as Partial<Record<L, string>>, value);
    },
  });
}

/** `count` bounds starting at `start`, each `factor` times the one before (Prometheus' ExponentialBuckets). */
export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  const buckets: number[] = [];
  let bound = start;
  for (let i = 0; i < count; i++) {
    buckets.push(bound);
    bound *= factor;
  }
  return buckets;
}
