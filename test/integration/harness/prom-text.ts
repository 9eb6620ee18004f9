/**
 * A reader of Prometheus' text exposition format (0.0.4) for the tests: families with their
 * type, help and samples (name, labels, value). Histogram and summary samples (`_bucket`,
 * `_sum`, `_count`) belong to their family. Written here because the npm parser we tried
 * (parse-prometheus-text-format 1.1.1) merges the label sets of a histogram into one, losing
 * exactly what these tests compare.
 */

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly samples: Sample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\S+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

function parseLabels(text: string | undefined, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (text === undefined || text.trim() === '') {
    return labels;
  }
  LABEL.lastIndex = 0;
  let consumed = 0;
  for (let m = LABEL.exec(text); m !== null; m = LABEL.exec(text)) {
    labels[m[1] as string] = (m[2] as string).replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    consumed = LABEL.lastIndex;
  }
  if (text.slice(consumed).trim() !== '') {
    throw new Error(`malformed labels in ${JSON.stringify(line)}`);
  }
  return labels;
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

/** Parses an exposition; throws on a malformed line. */
export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) {
      f = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, f);
    }
    return f;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^#\s+(HELP|TYPE)\s+(\S+)\s*(.*)$/.exec(line);
    if (meta !== null) {
      const f = family(meta[2] as string);
      families.set(f.name, meta[1] === 'TYPE' ? { ...f, type: meta[3] as string } : { ...f, help: meta[3] as string });
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (m === null) throw new Error(`malformed sample line ${JSON.stringify(line)}`);
    const name = m[1] as string;
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    const owner = families.has(name) ? name : (SUFFIXES.map((s) => (name.endsWith(s) ? name.slice(0, -s.length) : undefined)).find((base) => base !== undefined && families.has(base)) ?? name);
    family(owner).samples.push({ name, labels: parseLabels(m[2], line), value });
  }
  return families;
}

/** The label names a family's samples use (sorted), `le` and `quantile` left out. */
export function labelNamesOf(family: Family): string[] {
  const names = new Set<string>();
  for (const s of family.samples) for (const k of Object.keys(s.labels)) if (k !== 'le' && k !== 'quantile') names.add(k);
  return [...names].sort();
}

/** A histogram's bucket bounds as written (without +Inf), in order of first appearance. */
export function bucketsOf(family: Family): string[] {
  const bounds: string[] = [];
  for (const s of family.samples) {
    const le = s.labels['le'];
    if (s.name.endsWith('_bucket') && le !== undefined && le !== '+Inf' && !bounds.includes(le)) bounds.push(le);
  }
  return bounds;
}

/** Sums the samples of `name` (exact sample name) whose labels include `match`. */
export function sampleSum(families: Map<string, Family>, name: string, match: Readonly<Record<string, string>> = {}): number {
  let sum = 0;
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}
