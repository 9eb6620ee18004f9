/**
 * The report's latency-over-time plot as inline SVG (no scripts, no external assets): one dot
 * per operation at (call time, latency), coloured by outcome, on a log latency axis; fault
 * windows shaded and labelled behind the dots.
 */
import type { Operation } from '@keyval/lincheck';

/** A shaded band: a fault's window. */
export interface PlotWindow {
  readonly label: string;
  readonly startMs: number;
  readonly endMs: number;
}

export interface PlotOptions {
  readonly width?: number;
  readonly height?: number;
  /** At most this many dots are drawn (evenly thinned beyond it). */
  readonly maxDots?: number;
}

const COLORS = { ok: '#2a9d4b', info: '#e08a00', fail: '#c62828' } as const;
const BAND_COLORS = ['#90caf9', '#ce93d8', '#ffcc80', '#a5d6a7', '#ef9a9a', '#80deea', '#fff59d', '#bcaaa4', '#b0bec5', '#f48fb1'];

/** Escapes text for XML content and attributes. */
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function bandColor(label: string): string {
  let h = 0;
  for (const ch of label.split(':')[0] ?? '') h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return BAND_COLORS[h % BAND_COLORS.length] as string;
}

/**
 * Draws the plot. Operations without a return time (never completed) are drawn at the top of
 * the axis, as the slowest possible.
 */
export function latencySvg(ops: readonly Operation[], windows: readonly PlotWindow[], options: PlotOptions = {}): string {
  const width = options.width ?? 1100;
  const height = options.height ?? 380;
  const maxDots = options.maxDots ?? 20_000;
  const left = 60;
  const right = 20;
  const top = 20;
  const bottom = 40;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  // Loops, not Math.max(...spread): histories can hold more values than a call takes arguments.
  let endMs = 1;
  for (const o of ops) endMs = Math.max(endMs, o.returnTime ?? o.callTime);
  for (const w of windows) endMs = Math.max(endMs, w.endMs);
  const latencies = ops.map((o) => (o.returnTime === null ? Number.NaN : Math.max(0.1, o.returnTime - o.callTime)));
  let maxLatency = 10;
  for (const l of latencies) if (Number.isFinite(l)) maxLatency = Math.max(maxLatency, l);
  const logMin = Math.log10(0.1);
  const logMax = Math.log10(maxLatency * 1.2);
  const x = (ms: number): number => left + (ms / endMs) * plotW;
  const y = (latency: number): number => top + plotH - ((Math.log10(Number.isFinite(latency) ? latency : maxLatency * 1.2) - logMin) / (logMax - logMin)) * plotH;
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="#fafafa" stroke="#999"/>`);
  // Labels go on three staggered rows so that neighbouring windows stay readable.
  windows.forEach((w, k) => {
    const x0 = x(w.startMs);
    const x1 = Math.max(x0 + 2, x(w.endMs));
    parts.push(`<rect x="${x0.toFixed(1)}" y="${top}" width="${(x1 - x0).toFixed(1)}" height="${plotH}" fill="${bandColor(w.label)}" fill-opacity="0.45"><title>${escapeXml(w.label)}</title></rect>`);
    parts.push(`<text x="${(x0 + 2).toFixed(1)}" y="${top + 10 + (k % 3) * 10}" font-size="9" fill="#333">${escapeXml(w.label.split(' ')[0] ?? '')}</text>`);
  });
  for (let decade = Math.ceil(logMin); decade <= Math.floor(logMax); decade++) {
    const yy = y(10 ** decade);
    parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${yy.toFixed(1)}" y2="${yy.toFixed(1)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 5}" y="${(yy + 4).toFixed(1)}" text-anchor="end">${10 ** decade >= 1000 ? `${10 ** (decade - 3)} s` : `${10 ** decade} ms`}</text>`);
  }
  const ticks = 10;
  for (let k = 0; k <= ticks; k++) {
    const ms = (endMs * k) / ticks;
    parts.push(`<text x="${x(ms).toFixed(1)}" y="${top + plotH + 15}" text-anchor="middle">${(ms / 1000).toFixed(0)} s</text>`);
  }
  const stride = Math.max(1, Math.ceil(ops.length / maxDots));
  for (let k = 0; k < ops.length; k += stride) {
    const op = ops[k] as Operation;
    parts.push(`<circle cx="${x(op.callTime).toFixed(1)}" cy="${y(latencies[k] as number).toFixed(1)}" r="1.6" fill="${COLORS[op.status]}" fill-opacity="0.7"/>`);
  }
  parts.push(`<text x="${left + plotW / 2}" y="${height - 5}" text-anchor="middle">time since the start of the run (dots: ok green, info orange, fail red; bands: faults)</text>`);
  parts.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">latency (log)</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
