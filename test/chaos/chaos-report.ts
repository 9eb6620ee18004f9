/**
 * The report folder of a run:
 *
 *     reports/chaos/<UTC time>-<workload>/
 *       index.html        summary, latency-over-time plot with fault windows, timeline, verdict
 *       summary.json      the numbers of the last line and more
 *       history.json      the history (lincheck's JSON format; `npm run lincheck -- history.json`)
 *       history.edn       the same history as Jepsen EDN
 *       operations.txt    one line per operation: what, when (ms), outcome, members tried, last error
 *       check.json        lincheck's result (verdict, per-key results, counterexample)
 *       counterexample.txt  (only when not linearizable)
 *       violations.txt    (only when the watch or lease checker found violations) one per line
 *       timeline.json     every fault as carried out (targets, times, errors)
 *       logs/             member, proxy and agent logs
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describeOperation, formatCounterexample, formatEdnHistory, formatJsonHistory } from '@keyval/lincheck';
import type { CheckResult, Operation } from '@keyval/lincheck';
import type { ChaosOptions } from './chaos-options';
import type { TimelineEntry } from './fault-injector';
import { escapeXml, latencySvg } from './latency-plot';
import type { FinalReport } from './workloads';

/** What a run found; the last line of stdout is made from it. */
export interface RunSummary {
  readonly workload: string;
  readonly faults: string;
  readonly seed: number;
  readonly members: number;
  readonly leaseReads: boolean;
  readonly durationMs: number;
  readonly ops: number;
  readonly ok: number;
  readonly info: number;
  readonly fail: number;
  /** `violated`: the workload's own checker (watch, lease) found a violation (see `final.violations`). */
  readonly verdict: 'linearizable' | 'NOT-linearizable' | 'violated' | 'unknown';
  readonly lost: number;
  /** The healed cluster served again within --recovery. */
  readonly recovered: boolean;
  readonly final: FinalReport;
  /** How many times each member process was started. */
  readonly memberStarts: Record<string, number>;
}

export interface ReportData {
  readonly summary: RunSummary;
  readonly options: ChaosOptions;
  readonly ops: readonly Operation[];
  readonly check: CheckResult;
  readonly timeline: readonly TimelineEntry[];
  readonly errors: Record<string, number>;
  /** Per operation: the members it went to and its last error. */
  readonly notes: readonly string[];
}

/** One line per operation: what it was, when, how it ended, where it went. */
function operationsText(ops: readonly Operation[], notes: readonly string[]): string {
  const lines = ops.map((op, k) => `#${k} ${describeOperation(op)} ${op.status} ${notes[k] ?? ''}`.trimEnd());
  return `${lines.join('\n')}\n`;
}

function checkJson(check: CheckResult): unknown {
  return {
    verdict: check.verdict,
    unknownReason: check.unknownReason,
    steps: check.steps,
    elapsedMs: check.elapsedMs,
    perKey: check.perKey,
    counterexample: check.counterexample === undefined ? undefined : { ...check.counterexample, text: formatCounterexample(check.counterexample) },
  };
}

function table(rows: readonly (readonly string[])[], header: readonly string[]): string {
  const head = `<tr>${header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>${head}\n${body}</table>`;
}

function html(data: ReportData): string {
  const s = data.summary;
  const windows = data.timeline.map((t) => ({ label: `${t.kind}:${t.variant} ${t.description}`, startMs: t.startMs, endMs: Math.max(t.endMs, t.startMs + 50) }));
  const verdictColor = s.verdict === 'linearizable' ? '#2a9d4b' : s.verdict === 'unknown' ? '#e08a00' : '#c62828';
  const summaryRows: string[][] = [
    ['verdict', s.verdict],
    ...(s.final.violations === undefined ? [] : [['workload checker violations', String(s.final.violations.length)]]),
    ['lost acknowledged writes', String(s.lost)],
    ['operations', `${s.ops} (ok ${s.ok}, info ${s.info}, fail ${s.fail})`],
    ['workload / faults', `${s.workload} / ${s.faults}`],
    ['members / lease reads / seed', `${s.members} / ${s.leaseReads ? 'on' : 'off'} / ${s.seed}`],
    ['duration', `${(s.durationMs / 1000).toFixed(1)} s`],
    ['recovered after healing', String(s.recovered)],
    ['final read', JSON.stringify(s.final.details)],
    ['member starts', JSON.stringify(s.memberStarts)],
    ['checker', `${data.check.verdict}${data.check.unknownReason === undefined ? '' : ` (${data.check.unknownReason})`}, ${data.check.perKey.length} keys, ${data.check.steps} steps, ${Math.round(data.check.elapsedMs)} ms`],
  ];
  const timelineRows = data.timeline.map((t) => [`${(t.startMs / 1000).toFixed(1)}`, `${(t.endMs / 1000).toFixed(1)}`, `${t.kind}:${t.variant}`, t.description, t.error ?? '']);
  const errorRows = Object.entries(data.errors)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 30)
    .map(([text, n]) => [String(n), text]);
  const counterexample = data.check.counterexample === undefined ? '' : `<h2>Counterexample</h2><pre>${escapeXml(formatCounterexample(data.check.counterexample))}</pre>`;
  const violations = s.final.violations ?? [];
  const violationList = violations.length === 0 ? '' : `<h2>Violations (${s.workload} checker)</h2><pre>${escapeXml(violations.join('\n'))}</pre>`;
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>chaos ${escapeXml(s.workload)} ${escapeXml(s.faults)} — ${escapeXml(s.verdict)}</title>
<style>body{font-family:sans-serif;margin:20px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;font-size:13px}th{background:#eee}pre{background:#f5f5f5;padding:8px;overflow:auto}.verdict{font-size:22px;font-weight:bold;color:${verdictColor}}</style>
</head><body>
<h1>KeyVal chaos run: ${escapeXml(s.workload)}, faults ${escapeXml(s.faults)}</h1>
<p class="verdict">${escapeXml(s.verdict)} — lost ${s.lost}</p>
${table(summaryRows, ['', ''])}
<h2>Latency over time</h2>
${latencySvg(data.ops, windows)}
<h2>Fault timeline</h2>
${table(timelineRows, ['start s', 'end s', 'fault', 'what', 'error'])}
${counterexample}
${violationList}
<h2>Client errors (most frequent)</h2>
${table(errorRows, ['count', 'error'])}
<p>Files: history.json, history.edn, operations.txt, check.json, timeline.json, summary.json, logs/.</p>
</body></html>
`;
}

/** Writes every file of the report folder `dir` (which exists). */
export function writeReport(dir: string, data: ReportData): void {
  const write = (name: string, text: string): void => fs.writeFileSync(path.join(dir, name), text);
  const history = { ops: data.ops, initialValue: null, model: 'kv' as const };
  write('history.json', formatJsonHistory(history));
  try {
    write('history.edn', formatEdnHistory(history));
  } catch (error) {
    write('history.edn', `; not written: ${error instanceof Error ? error.message : String(error)}\n`);
  }
  write('check.json', `${JSON.stringify(checkJson(data.check), null, 2)}\n`);
  if (data.check.counterexample !== undefined) write('counterexample.txt', `${formatCounterexample(data.check.counterexample)}\n`);
  write('operations.txt', operationsText(data.ops, data.notes));
  const { violations = [], evidence = [] } = data.summary.final;
  if (violations.length > 0) write('violations.txt', `${[...violations, ...(evidence.length > 0 ? ['', 'evidence:', ...evidence] : [])].join('\n')}\n`);
  write('timeline.json', `${JSON.stringify(data.timeline, null, 2)}\n`);
  write('summary.json', `${JSON.stringify({ ...data.summary, options: data.options, errors: data.errors }, null, 2)}\n`);
  write('index.html', html(data));
}
