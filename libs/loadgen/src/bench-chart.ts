/**
 * SVG line charts of benchmark results (writes/s or p99 by number of clients, one line per
 * system), small enough to read in a browser or on GitHub. Pure: results in, SVG text out.
 */

export interface ChartSeries {
  readonly name: string;
  /** y for each x of the chart, in order; NaN where there is no figure. */
  readonly values: readonly number[];
}

export interface LineChart {
  readonly title: string;
  /** The x categories, in order (e.g. 1, 16, 64, 256 clients). */
  readonly x: readonly (string | number)[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly ChartSeries[];
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = { left: 72, right: 130, top: 40, bottom: 52 };
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** Text safe inside SVG elements and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c] as string);
}

/** A round step for about five grid lines up to `max`. */
function niceStep(max: number): number {
  const raw = max / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const unit = raw / power;
  return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
}

function formatNumber(n: number): string {
  return n >= 100 ? Math.round(n).toLocaleString('en-US') : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

export function renderLineChart(chart: LineChart): string {
  if (chart.x.length === 0) {
    throw new Error(`chart "${chart.title}" has no x values`);
  }
  for (const s of chart.series) {
    if (s.values.length !== chart.x.length) {
      throw new Error(`series "${s.name}" of chart "${chart.title}" has ${s.values.length} values for ${chart.x.length} x values`);
    }
  }
  const finite = chart.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const top = finite.length === 0 ? 1 : Math.max(...finite, 0) || 1;
  const step = niceStep(top);
  const yMax = Math.ceil(top / step) * step;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const xAt = (i: number): number => MARGIN.left + (chart.x.length === 1 ? plotW / 2 : (i * plotW) / (chart.x.length - 1));
  const yAt = (v: number): number => MARGIN.top + plotH - (v / yMax) * plotH;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`);
  for (let v = 0; v <= yMax + step / 2; v += step) {
    const y = yAt(v).toFixed(1);
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(formatNumber(v))}</text>`);
  }
  chart.x.forEach((x, i) => {
    out.push(`<text x="${xAt(i).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escapeXml(String(x))}</text>`);
  });
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`);
  chart.series.forEach((s, k) => {
    const colour = COLOURS[k % COLOURS.length] as string;
    const points = s.values.map((v, i) => (Number.isFinite(v) ? `${xAt(i).toFixed(1)},${yAt(v).toFixed(1)}` : undefined)).filter((p): p is string => p !== undefined);
    out.push(`<polyline class="series" data-name="${escapeXml(s.name)}" fill="none" stroke="${colour}" stroke-width="2" points="${points.join(' ')}"/>`);
    s.values.forEach((v, i) => {
      if (Number.isFinite(v)) {
        out.push(`<circle cx="${xAt(i).toFixed(1)}" cy="${yAt(v).toFixed(1)}" r="3" fill="${colour}"><title>${escapeXml(`${s.name}, ${String(chart.x[i])}: ${formatNumber(v)}`)}</title></circle>`);
      }
    });
    const ly = MARGIN.top + 10 + k * 20;
    out.push(`<line x1="${WIDTH - MARGIN.right + 14}" x2="${WIDTH - MARGIN.right + 34}" y1="${ly}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`);
    out.push(`<text x="${WIDTH - MARGIN.right + 40}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
