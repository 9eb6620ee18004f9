/**
 * kvctl's output: aligned tables for people, JSON for scripts (`-o json`), and a progress bar
 * on standard error when it is a terminal. Ids print as hex (as etcdctl's tables do).
 */

/** Output formats: `table` (default) and `json`; `simple` is etcdctl-style plain lines for data. */
export type OutputFormat = 'table' | 'json' | 'simple';

export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'simple'];

/** A member id as kvctl prints it (hex, as etcdctl prints ids in tables). */
export function hexId(id: bigint): string {
  return id.toString(16);
}

/** Bytes in a short human form: 812 B, 24 KiB, 3.1 MiB, 2.0 GiB. */
export function humanBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

/** Renders rows under a header as an aligned table (columns separated by two spaces). */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** JSON with bigints as decimal strings, two-space indented, newline-terminated. */
export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/**
 * A progress bar on standard error, redrawn at most every 100 ms, only when standard error is
 * a terminal (scripts and tests see nothing).
 */
export class ProgressBar {
  private lastDrawMs = 0;
  private readonly enabled: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly unit: (n: number) => string = String,
    private readonly stream: { write(text: string): unknown; readonly isTTY?: boolean } = process.stderr,
  ) {
    this.enabled = stream.isTTY === true;
  }

  update(done: number, force = false): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (!force && now - this.lastDrawMs < 100) return;
    this.lastDrawMs = now;
    const fraction = this.total > 0 ? Math.min(1, done / this.total) : 0;
    const width = 30;
    const filled = Math.round(fraction * width);
    const bar = `${'#'.repeat(filled)}${'-'.repeat(width - filled)}`;
    this.stream.write(`\r${this.label} [${bar}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${this.unit(done)} / ${this.unit(this.total)}`);
  }

  /** Draws the final state and ends the line. */
  finish(done: number): void {
    if (!this.enabled) return;
    this.update(done, true);
    this.stream.write('\n');
  }
}
