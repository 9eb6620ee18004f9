/**
 * The metric names a PromQL expression reads, for checking dashboards and rules against a live
 * scrape. Strings, label matchers `{...}`, ranges `[...]` and grouping clauses `by (...)` are
 * removed first; what remains that looks like an identifier and is neither a function or
 * aggregation (followed by `(`), a keyword, nor part of a number, is a metric name.
 */

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'atan2']);

export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  const token = /(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (let m = token.exec(stripped); m !== null; m = token.exec(stripped)) {
    const name = m[0];
    const rest = stripped.slice(token.lastIndex);
    if (KEYWORDS.has(name.toLowerCase()) || /^\s*\(/.test(rest)) continue;
    names.add(name);
  }
  return [...names].sort();
}
