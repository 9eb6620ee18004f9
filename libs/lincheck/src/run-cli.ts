/**
 * The `lincheck` command: checks each file and prints one verdict per file (or one JSON
 * object per line with `--json`). Exit status: 0 when every file is linearizable, 1 when any
 * is not, otherwise 2 when any is unknown or unreadable (and 2 for usage errors).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type CheckOptions, type CheckResult, DEFAULT_TIMEOUT_MS, checkHistory } from './check';
import { formatCounterexample } from './counterexample';
import type { ModelKind, Value } from './history';
import { LincheckError } from './lincheck.error';
import { type HistoryFormat, parseHistory } from './read-history';

/** Where the command writes; lines come without their trailing newline. */
export interface CliOutput {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
}

/** Exit status: every file is linearizable. */
export const EXIT_LINEARIZABLE = 0;
/** Exit status: some file is not linearizable. */
export const EXIT_NOT_LINEARIZABLE = 1;
/** Exit status: otherwise some file is unknown or unreadable, or the usage is wrong. */
export const EXIT_UNKNOWN = 2;

const USAGE = `Usage: npm run lincheck -- [options] FILE...

Checks each history FILE for linearizability (key-value model: get, put, delete, cas, append).
Formats: KeyVal JSON, Jepsen EDN (maps one per line, or a vector of them), Jepsen log lines.

Options:
  --timeout <ms>          wall-clock limit per file (default ${DEFAULT_TIMEOUT_MS})
  --max-steps <n>         deterministic search-step limit per file (default: none)
  --model <register|kv>   register: one register, keys ignored; kv: per key (default: from the file)
  --format <f>            auto, json, edn or jepsen-log (default auto)
  --initial-value <json>  initial value of every key: null or a JSON string (default: from the file)
  --json                  print one JSON object per file, one per line
  -h, --help              show this help

Exit status: 0 all linearizable, 1 any not linearizable, 2 any unknown or unreadable.`;

/** A file's outcome, as printed with `--json`. */
interface FileReport {
  readonly file: string;
  readonly verdict: CheckResult['verdict'] | 'unreadable';
  readonly ops?: number;
  readonly keys?: number;
  readonly steps?: number;
  /** Parsing and checking, wall time. */
  readonly elapsedMs?: number;
  readonly unknownReason?: string;
  readonly error?: string;
  readonly counterexample?: unknown;
}

interface CliSettings {
  readonly files: string[];
  readonly json: boolean;
  readonly format: HistoryFormat;
  readonly model: ModelKind | undefined;
  readonly initialValue: Value | undefined;
  readonly timeoutMs: number;
  readonly maxSteps: number;
}

/** Runs the command with `argv` (without node and script); returns the exit status. */
export function runCli(argv: readonly string[], output: CliOutput): number {
  let settings: CliSettings | 'help';
  try {
    settings = readSettings(argv);
  } catch (error) {
    output.stderr(`lincheck: ${messageOf(error)}`);
    output.stderr('Run with --help for usage.');
    return EXIT_UNKNOWN;
  }
  if (settings === 'help') {
    output.stdout(USAGE);
    return EXIT_LINEARIZABLE;
  }
  const reports = settings.files.map((file) => checkFile(file, settings as CliSettings));
  for (const report of reports) {
    printReport(report, settings.json, output);
  }
  if (!settings.json && reports.length > 1) {
    output.stdout(summary(reports));
  }
  if (reports.some((report) => report.verdict === 'not-linearizable')) {
    return EXIT_NOT_LINEARIZABLE;
  }
  return reports.every((report) => report.verdict === 'linearizable') ? EXIT_LINEARIZABLE : EXIT_UNKNOWN;
}

function readSettings(argv: readonly string[]): CliSettings | 'help' {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      timeout: { type: 'string' },
      'max-steps': { type: 'string' },
      model: { type: 'string' },
      format: { type: 'string' },
      'initial-value': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help === true) {
    return 'help';
  }
  if (positionals.length === 0) {
    throw new Error('no history files given');
  }
  const model = values.model;
  if (model !== undefined && model !== 'register' && model !== 'kv') {
    throw new Error(`--model must be register or kv, got ${model}`);
  }
  const format = values.format ?? 'auto';
  if (!['auto', 'json', 'edn', 'jepsen-log'].includes(format)) {
    throw new Error(`--format must be auto, json, edn or jepsen-log, got ${format}`);
  }
  return {
    files: positionals,
    json: values.json === true,
    format: format as HistoryFormat,
    model,
    initialValue: values['initial-value'] === undefined ? undefined : readInitialValue(values['initial-value']),
    timeoutMs: readPositive('--timeout', values.timeout, DEFAULT_TIMEOUT_MS),
    maxSteps: readPositive('--max-steps', values['max-steps'], Number.POSITIVE_INFINITY),
  };
}

function readPositive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) {
    return fallback;
  }
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new Error(`${flag} must be a positive whole number, got ${text}`);
  }
  return value;
}

function readInitialValue(text: string): Value {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`--initial-value must be null or a JSON string such as '""', got ${text}`);
  }
  if (value !== null && typeof value !== 'string') {
    throw new Error(`--initial-value must be null or a JSON string such as '""', got ${text}`);
  }
  return value;
}

function checkFile(file: string, settings: CliSettings): FileReport {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return { file, verdict: 'unreadable', error: code === 'ENOENT' ? 'no such file' : messageOf(error) };
  }
  const startMs = performance.now();
  try {
    const history = parseHistory(text, settings.format);
    const options: CheckOptions = {
      model: settings.model ?? history.model ?? 'kv',
      initialValue: settings.initialValue === undefined ? history.initialValue : settings.initialValue,
      timeoutMs: settings.timeoutMs,
      maxSteps: settings.maxSteps,
    };
    const result = checkHistory(history.ops, options);
    return {
      file,
      verdict: result.verdict,
      ops: history.ops.length,
      keys: result.perKey.length,
      steps: result.steps,
      elapsedMs: Math.round(performance.now() - startMs),
      ...(result.unknownReason === undefined ? {} : { unknownReason: result.unknownReason }),
      ...(result.counterexample === undefined ? {} : { counterexample: { ...result.counterexample, text: formatCounterexample(result.counterexample) } }),
    };
  } catch (error) {
    if (error instanceof LincheckError) {
      return { file, verdict: 'unreadable', error: error.message };
    }
    throw error;
  }
}

function printReport(report: FileReport, json: boolean, output: CliOutput): void {
  if (json) {
    output.stdout(JSON.stringify(report));
    return;
  }
  if (report.verdict === 'unreadable') {
    output.stdout(`unreadable        ${report.file}: ${report.error ?? 'unknown error'}`);
    return;
  }
  const label = report.verdict === 'not-linearizable' ? 'NOT-linearizable' : report.verdict;
  const keys = report.keys === 1 ? '1 key' : `${report.keys ?? 0} keys`;
  const reason = report.unknownReason === undefined ? '' : `; ${report.unknownReason}`;
  output.stdout(`${label.padEnd(17)} ${report.file}  (${report.ops ?? 0} ops, ${keys}, ${report.elapsedMs ?? 0} ms${reason})`);
  const counterexample = report.counterexample as { text?: string } | undefined;
  if (counterexample?.text !== undefined) {
    for (const line of counterexample.text.split('\n')) {
      output.stdout(`    ${line}`);
    }
  }
}

function summary(reports: readonly FileReport[]): string {
  const count = (verdict: FileReport['verdict']): number => reports.filter((report) => report.verdict === verdict).length;
  return (
    `lincheck: ${reports.length} files: ${count('linearizable')} linearizable, ${count('not-linearizable')} NOT-linearizable, ` +
    `${count('unknown')} unknown, ${count('unreadable')} unreadable`
  );
}

/** The message of anything thrown (errors from node:util may come from another realm). */
function messageOf(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') {
    return error.message;
  }
  return String(error);
}
