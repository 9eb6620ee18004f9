import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { formatJsonHistory } from './json-history';
import { EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_UNKNOWN, runCli } from './run-cli';
import { get, put } from './testing/history-builders';

const DATA_DIR = resolve(__dirname, '../../..', '../shared/lincheck-data');
const GOOD = join(DATA_DIR, 'jepsen/etcd_002.log');
const BAD = join(DATA_DIR, 'jepsen/etcd_000.log');
const EMPTY = join(DATA_DIR, 'jepsen/etcd_095.log');

function run(...argv: string[]): { code: number; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = runCli(argv, { stdout: (line) => stdout.push(line), stderr: (line) => stderr.push(line) });
  return { code, stdout, stderr };
}

let scratch: string;
let twoKeys: string;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'lincheck-cli-'));
  twoKeys = join(scratch, 'two-keys.json');
  const ops = [put([0, 1], '1', { key: 'a' }), get([2, 3], null, { key: 'b' })];
  writeFileSync(twoKeys, formatJsonHistory({ ops, initialValue: null, model: 'kv' }));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('lincheck command', () => {
  it('exits 0 and prints one line per file when all are linearizable', () => {
    const { code, stdout } = run(GOOD, twoKeys);
    expect(code).toBe(EXIT_LINEARIZABLE);
    expect(stdout[0]).toMatch(/^linearizable {6}\S+etcd_002\.log {2}\(77 ops, 1 key, \d+ ms\)$/);
    expect(stdout[1]).toMatch(/^linearizable {6}\S+two-keys\.json {2}\(2 ops, 2 keys, \d+ ms\)$/);
    expect(stdout[2]).toBe('lincheck: 2 files: 2 linearizable, 0 NOT-linearizable, 0 unknown, 0 unreadable');
  });

  it('exits 1 and prints the counterexample when one is not', () => {
    const { code, stdout } = run(GOOD, BAD);
    expect(code).toBe(EXIT_NOT_LINEARIZABLE);
    expect(stdout[1]).toMatch(/^NOT-linearizable {2}\S+etcd_000\.log/);
    expect(stdout[2]).toBe('    the register: no legal order exists.');
    expect(stdout.some((line) => line.includes('read "2", but the value is'))).toBe(true);
  });

  it('exits 2 with a one-line error for unreadable files', () => {
    const { code, stdout } = run(GOOD, EMPTY, join(scratch, 'missing.edn'));
    expect(code).toBe(EXIT_UNKNOWN);
    expect(stdout[1]).toBe(`unreadable        ${EMPTY}: empty input: no history to check`);
    expect(stdout[2]).toBe(`unreadable        ${join(scratch, 'missing.edn')}: no such file`);
  });

  it('a violation outranks unreadable files in the exit status', () => {
    expect(run(EMPTY, BAD).code).toBe(EXIT_NOT_LINEARIZABLE);
  });

  it('exits 2 with the reason when a limit is reached', () => {
    const { code, stdout } = run('--max-steps', '100', join(DATA_DIR, 'kv/c50-ok.txt'));
    expect(code).toBe(EXIT_UNKNOWN);
    expect(stdout[0]).toMatch(/^unknown {11}\S+c50-ok\.txt {2}\(1712 ops, 10 keys, \d+ ms; step-limit\)$/);
  });

  it('--json prints one JSON object per file', () => {
    const { code, stdout } = run('--json', BAD, EMPTY);
    expect(code).toBe(EXIT_NOT_LINEARIZABLE);
    expect(stdout).toHaveLength(2);
    const [bad, empty] = stdout.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(bad).toMatchObject({ file: BAD, verdict: 'not-linearizable', ops: 85, keys: 1 });
    expect((bad?.['counterexample'] as { text: string }).text).toContain('no legal order exists');
    expect(empty).toEqual({ file: EMPTY, verdict: 'unreadable', error: 'empty input: no history to check' });
  });

  it('--model and --initial-value override what the file implies', () => {
    expect(run('--model', 'register', twoKeys).code).toBe(EXIT_NOT_LINEARIZABLE);
    expect(run('--initial-value', '"z"', twoKeys).code).toBe(EXIT_NOT_LINEARIZABLE);
    expect(run('--initial-value', 'null', '--format', 'json', twoKeys).code).toBe(EXIT_LINEARIZABLE);
  });

  it.each<[string[], string]>([
    [[], 'lincheck: no history files given'],
    [['--model', 'graph', GOOD], 'lincheck: --model must be register or kv, got graph'],
    [['--timeout', '-5', GOOD], "lincheck: Option '--timeout' argument is ambiguous"],
    [['--timeout', 'soon', GOOD], 'lincheck: --timeout must be a positive whole number, got soon'],
    [['--format', 'yaml', GOOD], 'lincheck: --format must be auto, json, edn or jepsen-log, got yaml'],
    [['--initial-value', 'x', GOOD], `lincheck: --initial-value must be null or a JSON string such as '""', got x`],
    [['--verbose', GOOD], "lincheck: Unknown option '--verbose'"],
  ])('rejects usage %p with exit 2', (argv, message) => {
    const { code, stderr } = run(...argv);
    expect(code).toBe(EXIT_UNKNOWN);
    expect(stderr[0]).toContain(message);
  });

  it('--help prints usage', () => {
    const { code, stdout } = run('--help');
    expect(code).toBe(EXIT_LINEARIZABLE);
    expect(stdout[0]).toContain('Usage: npm run lincheck -- [options] FILE...');
  });
});
